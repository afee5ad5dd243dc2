-- wrk script for docs/PERFORMANCE.md: POST /v1/sessions/verify, cycling
-- through access tokens (one per line in TOKENS), with the API key read
-- from the file KEYFILE.
--   wrk -t2 -c32 -d8s --latency -s docs/bench/wrk-verify.lua \
--       http://127.0.0.1:8420/v1/sessions/verify -- TOKENS KEYFILE
local bodies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      bodies[#bodies + 1] = '{"access_token":"' .. line .. '"}'
    end
  end
  local f = assert(io.open(args[2]))
  local key = f:read("*l")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
  i = math.random(#bodies)
end

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
