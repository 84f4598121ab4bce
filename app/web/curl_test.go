package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCopyAsCurlIsShellSafe pastes the detail page's curl command into a
// real shell, as an admin would, with curl replaced by a function that
// prints its arguments. A client-chosen method full of shell syntax (the
// proxy refuses such methods now, but older records may hold them) must
// arrive as one literal argument and run nothing.
func TestCopyAsCurlIsShellSafe(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	methods := []string{
		"X`touch " + pwned + "`",
		"X$(touch " + pwned + ")",
		"X;touch " + pwned,
		"X'$(touch " + pwned + ")'",
		"GET\ntouch " + pwned,
	}
	for _, method := range methods {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t)
			x := fixture()[0]
			x.name, x.method = "evil", method
			e.seed(x)
			admin := e.login(adminKey)
			doc := page(t, e.get("/request/"+e.ids["evil"], withCookie(admin)))
			cmd := doc.Find("#curl-command").Text()
			if !strings.HasPrefix(cmd, "curl ") {
				t.Fatalf("curl command = %q", cmd)
			}
			script := "curl() { printf '%s\\0' \"$@\"; }\n" + cmd + "\n"
			out, err := exec.Command(bash, "-c", script).Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatal("pasting the curl command ran the method's shell code")
			}
			args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			i := slices.Index(args, "-X")
			if i < 0 || i+1 >= len(args) || args[i+1] != method {
				t.Fatalf("curl got args %q; want -X %q", args, method)
			}
		})
	}
}
