package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestConsole_IncidentFormLimit: the kill switch form takes the 1,000
// subjects it promises at the API's longest (256 bytes) even when a
// browser percent-encodes every byte, and a body one byte longer is
// refused with 413 before anything is revoked; every other form keeps the
// 16 KiB limit.
func TestConsole_IncidentFormLimit(t *testing.T) {
	const maxSubjects, otherFields = 1000, 16 << 10
	limit := maxSubjects*(3*sessiond.MaxSubjectBytes+len("%0D%0A")) + otherFields

	// Subject i: three "digits" and a fourth byte from symbols a browser
	// percent-encodes, then 126 é (two bytes each, already NFC): 256
	// bytes, 768 once encoded, and each one different.
	const symbols = "!#$&'()*,/:;=?@["
	subjects := make([]string, maxSubjects)
	for i := range subjects {
		subjects[i] = string([]byte{symbols[i/256], symbols[i/16%16], symbols[i%16], '@'}) + strings.Repeat("é", 126)
		if len(subjects[i]) != sessiond.MaxSubjectBytes || len(url.QueryEscape(subjects[i])) != 3*sessiond.MaxSubjectBytes {
			t.Fatalf("subject %d: %d bytes, %d encoded", i, len(subjects[i]), len(url.QueryEscape(subjects[i])))
		}
	}
	// body is the form a browser sends (CRLF between lines), padded with a
	// field the form ignores to n bytes.
	body := func(n int) string {
		b := "scope=subjects&reason=breach&notify=on&confirm=REVOKE&subjects=" + url.QueryEscape(strings.Join(subjects, "\r\n")) + "&pad="
		if len(b) > n {
			t.Fatalf("the form is %d bytes before padding, over %d", len(b), n)
		}
		return b + strings.Repeat("x", n-len(b))
	}
	for _, tc := range []struct {
		name     string
		path     string
		body     func() string
		want     int
		subjects int // of the kill switch run, 0 for none
	}{
		{"kill switch at the limit", "/console/incident", func() string { return body(limit) }, http.StatusOK, maxSubjects},
		{"kill switch one byte over", "/console/incident", func() string { return body(limit + 1) }, http.StatusRequestEntityTooLarge, 0},
		{"another form over 16 KiB", "/console/keys/create", func() string {
			b := "name=ci&scope=verify&pad="
			return b + strings.Repeat("x", otherFields+1-len(b))
		}, http.StatusBadRequest, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			b := tc.body()
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+tc.path, strings.NewReader(b))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("POST %s of %d bytes = %d (%q); want %d", tc.path, len(b), resp.StatusCode,
					between(string(page), `class="error"`, "</p>"), tc.want)
			}
			switch {
			case tc.subjects == 0 && len(f.incidents) != 0:
				t.Errorf("the kill switch ran on a refused form: %d subjects", len(f.incidents[0].Subjects))
			case tc.subjects > 0 && (len(f.incidents) != 1 || len(f.incidents[0].Subjects) != tc.subjects):
				t.Errorf("kill switch runs %d; want one of %d subjects", len(f.incidents), tc.subjects)
			case tc.subjects > 0 && f.incidents[0].Subjects[maxSubjects-1] != subjects[maxSubjects-1]:
				t.Errorf("last subject %q; want %q", f.incidents[0].Subjects[maxSubjects-1], subjects[maxSubjects-1])
			}
			if tc.want == http.StatusRequestEntityTooLarge && !strings.Contains(string(page), "larger than 771 KiB") {
				t.Errorf("the page does not say the form is too large: %q", between(string(page), `class="error"`, "</p>"))
			}
		})
	}
}
