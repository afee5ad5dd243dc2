package ssf_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// A receiver for one identity provider, mounted on its push path.
func ExampleNew() {
	st := memstore.New()
	mgr, err := sessiond.New(context.Background(), sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		panic(err)
	}
	defer mgr.Close()
	r, err := ssf.New(ssf.Options{
		Name:     "okta",
		Issuer:   "https://example.okta.com",
		Audience: "https://sessiond.example.com",
		JWKSURL:  "https://example.okta.com/oauth2/v1/keys",
		Subject:  ssf.SubjectRule{Format: ssf.FormatEmail, Template: "okta:{value}"},
		Revoker:  mgr,
		Replay:   st, // jti records shared by every node using this store (ReplayGuard)
		Events:   nil,
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /ssf/push/okta", r)
	fmt.Println("receiver ready")
	// Output: receiver ready
}

// Mapping an RFC 9493 subject identifier to a sessiond subject.
func ExampleSubjectRule_Map() {
	rule := ssf.SubjectRule{Format: ssf.FormatIssSub, Template: "{iss}|{value}"}
	subject, session, err := rule.Map([]byte(`{"format":"complex",
		"user":{"format":"iss_sub","iss":"https://idp.example.com","sub":"00u1"},
		"session":{"format":"opaque","id":"s_123"}}`))
	fmt.Println(subject, session, err)
	_, _, err = rule.Map([]byte(`{"format":"email","email":"a@example.com"}`))
	fmt.Println(err)
	// Output:
	// https://idp.example.com|00u1 s_123 <nil>
	// ssf: subject identifier not mappable: format "email", want "iss_sub"
}
