package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

var verifyBodySeeds = []string{
	`{"access_token":"tok"}`,
	` { "access_token" : "tok" , "client" : { "ip" : "192.0.2.1" , "user_agent" : "Mozilla/5.0 (X11)" } } `,
	`{"access_token":"tok","dpop_proof":"a.b.c","htm":"GET","htu":"https://app.example/x"}`,
	`{"client":{}}`, `{}`, `{"access_token":""}`,
	`{"access_token":"t\u00e9"}`, "{\"access_token\":\"t\xc3\xa9\"}", "{\"access_token\":\"\xffx\"}",
	`{"access_token":"a","access_token":"b"}`, `{"access_token":"a","Access_token":"b"}`,
	`{"client":{"ip":"1","ip":"2"}}`, `{"client":{"IP":"1"}}`, `{"client":null}`, `{"access_token":null}`,
	`{"access_token":"a"} x`, `{"access_token":"a"}{}`, `{"access_token":1}`, `{"access_token":"a",}`,
	`{"access_token":"a"`, `["access_token"]`, "{\"access_token\":\"a\tb\"}", `{"other":"x"}`,
	`{"client":{"ip":"a"},"client":{"ip":"b"}}`, `{"client":{"ip":"a","user_agent":"\u0041"}}`,
}

// FuzzDecodeVerifyBody: whatever the one-pass reader accepts, the strict
// path (checkJSON, then encoding/json) accepts too and reads the same
// values; so the fast path can never let through what the strict path
// refuses, nor read a body differently.
func FuzzDecodeVerifyBody(f *testing.F) {
	for _, s := range verifyBodySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast verifyRequest
		if !decodeVerifyBody(body, &fast) {
			if fast != (verifyRequest{}) {
				t.Fatalf("declined %q but filled %+v", body, fast)
			}
			return
		}
		if err := checkJSON(body, shapeOf(reflect.TypeFor[*verifyRequest]())); err != nil {
			t.Fatalf("fast path accepted %q; checkJSON refuses it: %v", body, err)
		}
		var strict verifyRequest
		if err := json.Unmarshal(body, &strict); err != nil {
			t.Fatalf("fast path accepted %q; encoding/json refuses it: %v", body, err)
		}
		if fast != strict {
			t.Fatalf("decodeVerifyBody(%q) = %+v; encoding/json reads %+v", body, fast, strict)
		}
	})
}

// TestDecodeVerifyBody: the plain shapes are read; everything the strict
// path refuses or must word an error for, and everything encoding/json
// would read in its own way, is declined (and so goes the strict way).
func TestDecodeVerifyBody(t *testing.T) {
	read := []struct {
		body string
		want verifyRequest
	}{
		{`{"access_token":"tok"}`, verifyRequest{AccessToken: "tok"}},
		{"\n{ \"access_token\" :\t\"tok\" }\r\n", verifyRequest{AccessToken: "tok"}},
		{`{"client":{"ip":"192.0.2.1","user_agent":"UA é"},"access_token":"t"}`,
			verifyRequest{AccessToken: "t", Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "UA é"}}},
		{`{"access_token":"t","dpop_proof":"p","htm":"POST","htu":"https://x/y"}`,
			verifyRequest{AccessToken: "t", dpopProof: dpopProof{Proof: "p", HTM: "POST", HTU: "https://x/y"}}},
		{`{}`, verifyRequest{}},
		{`{"client":{}}`, verifyRequest{}},
	}
	for _, c := range read {
		var got verifyRequest
		if !decodeVerifyBody([]byte(c.body), &got) || got != c.want {
			t.Errorf("decodeVerifyBody(%q) = %+v; want %+v", c.body, got, c.want)
		}
	}
	declined := map[string]string{
		"duplicate key":          `{"access_token":"a","access_token":"b"}`,
		"case-variant key":       `{"access_token":"a","Access_Token":"b"}`,
		"case-variant key alone": `{"Access_token":"a"}`,
		"nested duplicate":       `{"client":{"ip":"a","ip":"b"}}`,
		"duplicate object":       `{"client":{},"client":{}}`,
		"unknown key":            `{"access_token":"a","scope":"x"}`,
		"invalid UTF-8":          "{\"access_token\":\"\xffa\"}",
		"invalid UTF-8 in a key": "{\"\xff\":\"a\"}",
		"encoded surrogate":      "{\"access_token\":\"\xed\xa0\x80\"}",
		"escape":                 `{"access_token":"\u0061"}`,
		"lone surrogate escape":  `{"access_token":"\ud800"}`,
		"escaped key":            `{"\u0061ccess_token":"a"}`,
		"control character":      "{\"access_token\":\"a\nb\"}",
		"null":                   `{"access_token":null}`,
		"number":                 `{"access_token":1}`,
		"client not an object":   `{"client":"x"}`,
		"trailing data":          `{"access_token":"a"} {}`,
		"trailing comma":         `{"access_token":"a",}`,
		"cut short":              `{"access_token":"a"`,
		"not an object":          `"access_token"`,
		"empty":                  ``,
	}
	for name, body := range declined {
		var got verifyRequest
		if decodeVerifyBody([]byte(body), &got) {
			t.Errorf("%s: decodeVerifyBody(%q) accepted it as %+v; want it declined", name, body, got)
		}
	}
}

// TestDecodeVerifyBody_EveryOffset puts each byte str must look at at
// every offset of a long token, across the eight-byte words it skips, and
// holds the answer to the strict path's.
func TestDecodeVerifyBody_EveryOffset(t *testing.T) {
	specials := map[string]string{
		"quote": `"`, "backslash": `\\`, "newline": "\n", "unit separator": "\x1f",
		"DEL": "\x7f", "space": " ", "tilde": "~", "invalid UTF-8": "\xff", "é": "é",
		"U+2028": "\u2028", "lone continuation": "\x80",
	}
	for name, sp := range specials {
		for at := 0; at < 40; at++ {
			tok := strings.Repeat("a", at) + sp + strings.Repeat("b", 40-at)
			body := []byte(`{"access_token":"` + tok + `"}`)
			var fast verifyRequest
			ok := decodeVerifyBody(body, &fast)
			var strict verifyRequest
			strictOK := checkJSON(body, shapeOf(reflect.TypeFor[*verifyRequest]())) == nil &&
				json.Unmarshal(body, &strict) == nil
			// A plain printable byte or valid UTF-8 is read; anything else
			// declined, and the strict path has the last word.
			wantFast := strictOK && !strings.ContainsAny(sp, "\"\\") && sp >= " " && sp != "\xff" && sp != "\x80"
			if ok != wantFast || ok && fast != strict {
				t.Errorf("%s at %d: decodeVerifyBody(%q) = %v, %+v; want %v, %+v", name, at, body, ok, fast, wantFast, strict)
			}
		}
	}
}

func BenchmarkDecodeVerifyBody(b *testing.B) {
	body := []byte(`{"access_token":"eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}`)
	b.ReportAllocs()
	for b.Loop() {
		var req verifyRequest
		if !decodeVerifyBody(body, &req) {
			b.Fatal("declined")
		}
	}
}
