-- wrk script for docs/bench/check.sh: GET /sessiond/check, cycling through
-- session cookies (name=value, one per line in COOKIES); the second
-- argument (the API key file) is not used.
--   wrk -t2 -c32 -d6s --latency -s docs/bench/wrk-check.lua \
--       http://127.0.0.1:8420/sessiond/check -- COOKIES KEYFILE
local cookies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      cookies[#cookies + 1] = line
    end
  end
  i = math.random(#cookies)
end

function request()
  i = i % #cookies + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[i] }, nil)
end
