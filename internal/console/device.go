package console

import (
	"github.com/medama-io/go-useragent"
)

// device names a session's device from its User-Agent ("Chrome on
// Android"), with the parser the anomaly rules use.
type device struct {
	ua *useragent.Parser
}

func (d device) describe(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	p := d.ua.Parse(ua)
	browser, os := p.GetBrowser(), p.GetOS()
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return os
	}
	return "Unknown device"
}
