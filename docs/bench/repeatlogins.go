//go:build ignore

// Repeatlogins sends logins at a fixed rate for a fixed pool of subjects,
// round and round, so that from the second round on every login is by a
// subject that already has sessions: the load of the concurrent-login
// check with events (docs/PERFORMANCE.md, "The concurrent-login check with
// reads in flight"). `sessiond bench create` logs in a new subject each
// time, which never has an event.
//
//	SESSIOND_API_KEY=$KEY go run docs/bench/repeatlogins.go -url http://127.0.0.1:21401 \
//	    -rate 90 -duration 30s -subjects 300
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "the server's base URL")
	rate := flag.Float64("rate", 90, "logins a second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	subjects := flag.Int("subjects", 300, "subjects in the pool")
	tag := flag.String("tag", fmt.Sprintf("rl%d", time.Now().Unix()), "prefix of the subjects")
	flag.Parse()
	if *url == "" || *rate <= 0 || *subjects <= 0 {
		log.Fatal("repeatlogins: give -url, a -rate and -subjects above 0")
	}
	key := os.Getenv("SESSIOND_API_KEY")
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, 64) // logins in flight at most
	interval := time.Duration(float64(time.Second) / *rate)
	end := time.Now().Add(*duration)
	next := time.Now()
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			// Three User-Agents in turn: some logins are from a new device.
			body := fmt.Sprintf(`{"subject":"%s-%d","client":{"ip":"198.51.100.23","user_agent":"repeatlogins/%d"}}`, *tag, i%*subjects, i%3)
			req, err := http.NewRequest(http.MethodPost, *url+"/v1/sessions", bytes.NewBufferString(body))
			if err != nil {
				log.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			sent.Add(1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("logins %d failed %d\n", sent.Load(), failed.Load())
}
