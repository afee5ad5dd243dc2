package anomaly_test

import (
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
)

func ExampleDetector_Check() {
	d, err := anomaly.New(anomaly.Options{Actions: anomaly.DefaultActions()})
	if err != nil {
		panic(err)
	}
	issued := sessiond.Client{
		IP:        "203.0.113.5",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// The browser updated itself and the address moved inside the /24: fine.
	updated := sessiond.Client{
		IP:        "203.0.113.77",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36",
	}
	fmt.Println(d.Check(now, anomaly.Verify, "s1", issued, updated))

	// Another network, another OS, at refresh.
	other := sessiond.Client{
		IP:        "198.51.100.7",
		UserAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Mobile Safari/537.36",
	}
	fs := d.Check(now, anomaly.Refresh, "s1", issued, other)
	for _, f := range fs {
		fmt.Printf("%s (%s): %s\n", f.Rule, f.Action, f.Detail)
	}
	worst, _ := anomaly.Worst(fs)
	fmt.Println("worst:", worst)
	// Output:
	// []
	// ip_change (log): network changed from 203.0.113.0/24 to 198.51.100.0/24
	// user_agent_change (step_up): os changed from Windows to Android
	// refresh_device_change (revoke): refresh from another device: network changed from 203.0.113.0/24 to 198.51.100.0/24; os changed from Windows to Android
	// worst: revoke
}
