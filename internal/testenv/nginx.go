package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// NginxConf returns an nginx.conf for a test: one worker, its log on
// stderr at errorLevel, no access log, the buffers under the prefix's tmp
// folder (NginxArgs makes it), and http the rest of the http block.
func NginxConf(errorLevel, http string) string {
	return `worker_processes 1;
pid nginx.pid;
error_log stderr ` + errorLevel + `;
events {}
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
` + http + `}
`
}

// NginxArgs makes dir an nginx prefix holding conf as nginx.conf and a tmp
// folder, and returns the arguments that run nginx on it in the foreground
// with its log on stderr. As root the workers run as root too: they write
// their buffers under the test's temp dir.
func NginxArgs(tb testing.TB, dir, conf string) []string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		tb.Fatal(err)
	}
	WriteFile(tb, dir, "nginx.conf", conf)
	global := "daemon off;"
	if os.Geteuid() == 0 {
		global += " user root;"
	}
	return []string{"-p", dir, "-c", "nginx.conf", "-e", "stderr", "-g", global}
}
