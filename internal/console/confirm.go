package console

import (
	"net/http"
)

// confirmed is the value of a confirmation step's hidden field: the
// actions that ask for no typed word (a subject's sessions) run only when
// the form sent it, which only their confirmation page's form does.
const confirmed = "yes"

// confirmView is a destructive action's confirmation page: what it will
// do, and a form that sends the action again with its confirmation. It
// needs no JavaScript; the form goes through the same CSRF checks as the
// one that led here.
type confirmView struct {
	Heading string
	Lines   []string // what the action will do, in plain text
	// Action is the form's action; "" when there is nothing to confirm
	// (only the way back is shown).
	Action string
	Hidden []field
	// Typed, if set, is the word to type (Confirmation); otherwise the
	// form carries confirmed in a hidden field.
	Typed   string
	Refused bool // the word typed was not Typed
	Button  string
	Cancel  string // the page to go back to
}

type field struct{ Name, Value string }

// Yes is the hidden confirmation's value, for the template.
func (confirmView) Yes() string { return confirmed }

// renderConfirm answers an action sent without its confirmation with the
// confirmation page, under the page the operator was on: htmx keeps that
// URL (a reload shows that page again), and without htmx the browser asks
// before sending the form again, which shows this page again.
func (c *Console) renderConfirm(w http.ResponseWriter, r *http.Request, status int, d pageData, v confirmView) {
	w.Header().Set("HX-Push-Url", "false")
	d.Data = v
	c.pages.render(w, r, status, "confirm", d)
}
