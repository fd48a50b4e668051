package portcullis_test

import data.portcullis

cases := {
	"tool call": {"kind": "request", "method": "tools/call", "name": "run_shell", "truncated": true},
	"list item": {"kind": "list_item", "method": "tools/call", "name": "anything"},
	"server request": {"direction": "server_to_client", "kind": "request", "method": "sampling/createMessage"},
	"notification": {"kind": "notification", "method": "notifications/initialized"},
	"empty input": {},
}

test_allows_everything[note] if {
	some note, fields in cases
	decision := portcullis.decision with input as fields
	decision == {
		"allow": true,
		"reasons": ["allow-all policy: every message is allowed"],
		"rule_ids": ["allow_all"],
	}
}
