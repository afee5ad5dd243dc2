//go:build ignore

// Delayproxy runs internal/delayproxy in front of a store: it adds a
// round-trip time to PostgreSQL or Redis on loopback, as a store in
// another zone has, without touching the loopback interface (tc/netem on
// lo slows every process on the host), and counts the sequential round
// trips crossing it. docs/PERFORMANCE.md, "A store across the network",
// shows its use.
//
//	go run docs/bench/delayproxy.go -listen 127.0.0.1:21432 -target 127.0.0.1:5432 \
//	    -listen 127.0.0.1:21479 -target 127.0.0.1:6379 -admin 127.0.0.1:21499 -rtt 5ms
//	curl -s 127.0.0.1:21499/stats                # {"conns":…,"turnarounds":…,…}
//	curl -s -XPOST '127.0.0.1:21499/reset'       # counters to zero (?mark=NAME: a line in the -trace log)
//	curl -s -XPOST '127.0.0.1:21499/rtt?d=50ms'  # a bad day
//
// -trace logs the printable start of every turnaround's first chunk: SQL
// text (or a prepared statement's name) and Redis command names.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/delayproxy"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var listens, targets list
	flag.Var(&listens, "listen", "address to listen on (repeatable)")
	flag.Var(&targets, "target", "address to forward to (repeatable, in the order of -listen)")
	admin := flag.String("admin", "127.0.0.1:21499", "address of the stats, reset and rtt endpoints")
	rtt := flag.Duration("rtt", 0, "round-trip time to add (half each way)")
	trace := flag.Bool("trace", false, "log the start of every turnaround's first chunk")
	flag.Parse()
	if len(listens) == 0 || len(listens) != len(targets) {
		log.Fatal("delayproxy: give as many -target as -listen")
	}
	o := delayproxy.Options{RTT: *rtt}
	if *trace {
		o.Trace = func(remote string, b []byte) { log.Printf("%s %q", remote, printable(b[:min(len(b), 2000)])) }
	}
	var proxies []*delayproxy.Proxy
	for i := range listens {
		p, err := delayproxy.Start(listens[i], targets[i], o)
		if err != nil {
			log.Fatal(err)
		}
		proxies = append(proxies, p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		var sum delayproxy.Stats
		for _, p := range proxies {
			s := p.Stats()
			sum.Conns += s.Conns
			sum.Turnarounds += s.Turnarounds
			sum.ClientChunks += s.ClientChunks
			sum.ServerChunks += s.ServerChunks
			sum.ClientBytes += s.ClientBytes
			sum.ServerBytes += s.ServerBytes
		}
		_ = json.NewEncoder(w).Encode(struct {
			RTT string `json:"rtt"`
			delayproxy.Stats
		}{proxies[0].RTT().String(), sum})
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		if *trace {
			log.Printf("reset %s", r.URL.Query().Get("mark"))
		}
		for _, p := range proxies {
			p.Reset()
		}
	})
	mux.HandleFunc("POST /rtt", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "d: a duration", http.StatusBadRequest)
			return
		}
		for _, p := range proxies {
			p.SetRTT(d)
		}
	})
	log.Fatal(http.ListenAndServe(*admin, mux))
}

// printable keeps the letters, digits and punctuation of b, so a trace
// shows SQL text and Redis command names, not the binary framing.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else if len(out) > 0 && out[len(out)-1] != ' ' {
			out = append(out, ' ')
		}
	}
	return string(out)
}
