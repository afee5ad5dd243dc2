package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestContainerImage builds the repository's Dockerfile with podman and
// runs the image: it serves, answers its own HEALTHCHECK, runs as the
// non-root user, has no shell, and stops cleanly on SIGTERM.
//
// Container registries are out of reach on the development and CI
// machines, so the two base images are stand-ins built here from this
// machine's files (docs/deployment.md says what that leaves untested):
// the build stage gets a root file system with /bin/sh, date, mkdir, CA
// certificates and this machine's Go toolchain; the final stage gets an
// empty image with distroless's passwd and group entries. The Dockerfile
// is built as it is, with only its FROM image names pointed at them.
func TestContainerImage(t *testing.T) {
	progs := testenv.Programs(t, "the container image test", "apt-get install podman runc", "podman")
	podman := progs["podman"]
	if testing.Short() {
		t.Skip("builds a container image (minutes)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tag := fmt.Sprintf("sessiond-test-%d", time.Now().UnixNano())
	run := func(args ...string) string {
		t.Helper()
		// Only stdout is the answer: podman logs warnings on stderr.
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, podman, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	// This sandbox refuses to raise rlimits and has hybrid cgroups crun
	// rejects; runc with explicit limits works here and anywhere else.
	runtime := runtimeFlags()

	goImage, finalImage := tag+"-go", tag+"-final"
	began := time.Now()
	importRootFS(t, ctx, podman, buildRootFS(t), goImage,
		"ENV PATH=/usr/local/go/bin:/go/bin:/usr/bin:/bin", "ENV GOPATH=/go", "ENV GOTOOLCHAIN=local",
		"ENV GOCACHE=/gocache")
	importRootFS(t, ctx, podman, finalRootFS(t), finalImage)
	t.Logf("stand-in base images: %s", time.Since(began).Round(time.Second))
	t.Cleanup(func() {
		exec.Command(podman, "rmi", "-f", tag, goImage, finalImage).Run()
	})

	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM\s+\S+`)
	stage := 0
	patched := froms.ReplaceAllStringFunc(string(df), func(from string) string {
		stage++
		if stage == 1 {
			return "FROM localhost/" + goImage
		}
		return "FROM localhost/" + finalImage
	})
	if stage != 2 {
		t.Fatalf("Dockerfile has %d FROM lines; the test expects the build and final stages", stage)
	}
	dfPath := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(dfPath, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	build := append([]string{"build", "--format", "docker", "--pull=never", "--network", "host", "-f", dfPath,
		"--build-arg", "VERSION=v0.0.0-containertest", "-t", tag}, runtime...)
	if modcache := goEnv(t, "GOMODCACHE"); modcache != "" {
		// The modules this machine already has; the build stage still runs
		// `go mod download`, which then needs no network.
		build = append(build, "-v", modcache+":/go/pkg/mod")
	}
	// This machine's own build cache: the build stage compiles the whole
	// program, minutes of CPU, which on a loaded 2-core machine ran past
	// the package's 10-minute test timeout when the cache was cold. Any
	// build here with the Dockerfile's flags (CGO_ENABLED=0 -trimpath:
	// .ci/run makes one before the tests) leaves every package compiled;
	// the cache is keyed by inputs, so it changes the build's speed, not
	// its output.
	if cache := goEnv(t, "GOCACHE"); cache != "" && cache != "off" {
		build = append(build, "-v", cache+":/gocache")
	}
	built := time.Now()
	run(append(build, "..")...)
	t.Logf("podman build: %s", time.Since(built).Round(time.Second))

	inspect := run("image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Healthcheck}}|{{json .Config.Entrypoint}}", tag)
	parts := strings.SplitN(inspect, "|", 3)
	if parts[0] != "65532:65532" {
		t.Errorf("image user = %q; want 65532:65532 (non-root)", parts[0])
	}
	if !strings.Contains(parts[1], `"healthcheck"`) || !strings.Contains(parts[1], "/usr/local/bin/sessiond") {
		t.Errorf("image healthcheck = %s; want sessiond healthcheck in exec form", parts[1])
	}

	port := testenv.FreePort(t)
	apiKey := "sdak_" + strings.Repeat("c0ffee", 10) + "0123"
	ctr := run(append([]string{"run", "-d", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges", "-p", fmt.Sprintf("127.0.0.1:%d:8420", port),
		"-e", "SESSIOND_API_KEY=" + apiKey}, append(runtime, tag)...)...)
	t.Cleanup(func() { exec.Command(podman, "rm", "-f", ctr).Run() })

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, ctx, base, func() string { return run("logs", ctr) })

	// A session made and verified through the published port.
	body := `{"subject":"container-user"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(created), `"access_token"`) {
		t.Fatalf("POST /v1/sessions in the container: %d %s", resp.StatusCode, created)
	}

	// The image's own HEALTHCHECK, as the runtime runs it.
	if out, err := exec.CommandContext(ctx, podman, "healthcheck", "run", ctr).CombinedOutput(); err != nil {
		t.Errorf("podman healthcheck run: %v %s", err, out)
	}
	// No shell to run: a process started in the container finds none.
	if out, err := exec.CommandContext(ctx, podman, "exec", ctr, "/bin/sh", "-c", "true").CombinedOutput(); err == nil {
		t.Errorf("/bin/sh ran in the final image: %s", out)
	} else if !strings.Contains(string(out), "no such file") && !strings.Contains(string(out), "not found") {
		t.Errorf("podman exec /bin/sh failed for another reason than a missing shell: %v %s", err, out)
	}
	if uid := run("exec", ctr, "/usr/local/bin/sessiond", "version"); !strings.Contains(uid, "v0.0.0-containertest") {
		t.Errorf("sessiond version in the image = %q; want the VERSION build argument", uid)
	}
	if top := run("top", ctr, "user", "args"); !strings.Contains(top, "65532") && !strings.Contains(top, "nonroot") {
		t.Errorf("process user in the container:\n%s\nwant 65532 (nonroot)", top)
	}

	run("stop", "-t", "20", ctr)
	if code := run("inspect", "--format", "{{.State.ExitCode}}", ctr); code != "0" {
		t.Errorf("exit code after SIGTERM = %s; want 0 (graceful stop)\n%s", code, run("logs", ctr))
	}
}

// runtimeFlags are podman's options for this machine: runc and explicit
// rlimits when runc is installed (crun fails here), none otherwise.
func runtimeFlags() []string {
	if _, err := exec.LookPath("runc"); err != nil {
		return nil
	}
	return []string{"--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}
}

// buildRootFS is the build stage's stand-in: sh, date and mkdir with the
// shared libraries they load, CA certificates, and this machine's Go.
func buildRootFS(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	goroot := goEnv(t, "GOROOT")
	files := []string{"/etc/ssl/certs/ca-certificates.crt"}
	for _, prog := range []string{"sh", "date", "mkdir"} {
		p, err := exec.LookPath(prog)
		if err != nil {
			t.Fatal(err)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, real)
		copyFile(t, real, filepath.Join(root, "bin", prog))
		out, err := exec.Command("ldd", real).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", real, err)
		}
		files = append(files, regexp.MustCompile(`(/\S+\.so[.\d]*)`).FindAllString(string(out), -1)...)
	}
	for _, f := range files {
		copyFile(t, f, filepath.Join(root, f))
	}
	for _, d := range []string{"tmp", "usr/local", "go"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", goroot, filepath.Join(root, "usr/local/go")).CombinedOutput(); err != nil {
		t.Fatalf("copy Go: %v %s", err, out)
	}
	return root
}

// finalRootFS is the final stage's stand-in: what distroless static's
// nonroot variant defines for users, and nothing to run.
func finalRootFS(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
	write("etc/group", "root:x:0:\nnonroot:x:65532:\n")
	copyFile(t, "/etc/ssl/certs/ca-certificates.crt", filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	return root
}

func importRootFS(t *testing.T, ctx context.Context, podman, root, name string, changes ...string) {
	t.Helper()
	tar := exec.CommandContext(ctx, "tar", "-C", root, "-c", ".")
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	imp := exec.CommandContext(ctx, podman, append(args, "-", name)...)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := imp.CombinedOutput()
	if werr := tar.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		t.Fatalf("podman import %s: %v\n%s", name, err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func waitReady(t *testing.T, ctx context.Context, base string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the container did not become ready within 60 s; its log:\n%s", logs())
}
