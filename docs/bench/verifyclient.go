//go:build ignore

// Verifyclient sends N POST /v1/sessions/verify over one keep-alive
// connection, cycling through the access tokens of a file (one a line),
// and stops at the first answer other than 200: the load of
// verify-instructions.sh, light enough to leave the server's instructions
// to the server.
//
//	go run docs/bench/verifyclient.go 127.0.0.1:28420 tokens api-key 3000
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: verifyclient ADDR TOKEN-FILE KEY-FILE N")
		os.Exit(2)
	}
	addr := os.Args[1]
	n, err := strconv.Atoi(os.Args[4])
	check(err)
	key, err := os.ReadFile(os.Args[3])
	check(err)
	toks, err := os.ReadFile(os.Args[2])
	check(err)
	var reqs []string
	for _, t := range strings.Fields(string(toks)) {
		body := `{"access_token":"` + t + `"}`
		reqs = append(reqs, fmt.Sprintf("POST /v1/sessions/verify HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
			"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", addr, strings.TrimSpace(string(key)), len(body), body))
	}
	c, err := net.Dial("tcp", addr)
	check(err)
	br := bufio.NewReader(c)
	for i := range n {
		_, err := io.WriteString(c, reqs[i%len(reqs)])
		check(err)
		resp, err := http.ReadResponse(br, nil)
		check(err)
		_, err = io.Copy(io.Discard, resp.Body)
		check(err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			check(fmt.Errorf("verify %d: %s", i, resp.Status))
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifyclient:", err)
		os.Exit(1)
	}
}
