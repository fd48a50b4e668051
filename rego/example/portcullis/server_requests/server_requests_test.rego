package portcullis.server_requests_test

import data.portcullis.testing

# METADATA
# description: |
#   A request the upstream server sends to the client, as seen by the client's subject.
server_request(method, params, groups) := testing.message({
	"direction": "server_to_client",
	"method": method,
	"params": params,
	"subject": testing.subject(groups),
})

# METADATA
# description: Server-to-client requests, with the decision each must get.
cases := {
	"roots/list, no groups": {
		"input": server_request("roots/list", {}, []),
		"allow": true,
		"rule_ids": ["example.server.roots.allowed"],
	},
	"sampling, engineering": {
		"input": server_request("sampling/createMessage", {"messages": [], "maxTokens": 100}, ["engineering"]),
		"allow": true,
		"rule_ids": ["example.server.sampling.allowed"],
	},
	"sampling, support": {
		"input": server_request("sampling/createMessage", {"messages": [], "maxTokens": 100}, ["support"]),
		"allow": false,
		"rule_ids": ["example.server.sampling.denied"],
	},
	"sampling, no groups": {
		"input": server_request("sampling/createMessage", {}, []),
		"allow": false,
		"rule_ids": ["example.server.sampling.denied"],
	},
	"elicitation, form mode": {
		"input": server_request("elicitation/create", {"mode": "form", "message": "Which region?"}, []),
		"allow": true,
		"rule_ids": ["example.server.elicitation.allowed"],
	},
	"elicitation, no mode (form)": {
		"input": server_request("elicitation/create", {"message": "Which region?"}, ["support"]),
		"allow": true,
		"rule_ids": ["example.server.elicitation.allowed"],
	},
	"elicitation, url mode, https": {
		"input": server_request(
			"elicitation/create",
			{"mode": "url", "url": "https://auth.example.com/connect", "elicitationId": "e1"},
			[],
		),
		"allow": true,
		"rule_ids": ["example.server.elicitation.allowed"],
	},
	"elicitation, url mode, http": {
		"input": server_request(
			"elicitation/create",
			{"mode": "url", "url": "http://auth.example.com/connect", "elicitationId": "e1"},
			["engineering"],
		),
		"allow": false,
		"rule_ids": ["example.server.elicitation.url_refused"],
	},
	"elicitation, url mode, no url": {
		"input": server_request("elicitation/create", {"mode": "url"}, []),
		"allow": false,
		"rule_ids": ["example.server.elicitation.url_refused"],
	},
	"ping from the server": {
		"input": server_request("ping", {}, []),
		"allow": true,
		"rule_ids": ["example.protocol.method"],
	},
	"unknown server request": {
		"input": server_request("tools/call", {}, ["admins"]),
		"allow": false,
		"rule_ids": ["example.method.unknown"],
	},
}

test_server_requests[note] if {
	some note, tc in cases
	decision := data.portcullis.decision with input as tc.input
	decision.allow == tc.allow
	decision.rule_ids == tc.rule_ids
}

test_reasons if {
	denied := data.portcullis.decision with input as server_request("sampling/createMessage", {}, ["support"])
	denied.reasons == ["server request sampling requires one of the groups engineering"]

	ftp := server_request("elicitation/create", {"mode": "url", "url": "ftp://x"}, [])
	url := data.portcullis.decision with input as ftp
	url.reasons == ["server request elicitation in url mode is only allowed to URLs starting with https://"]

	roots := data.portcullis.decision with input as server_request("roots/list", {}, [])
	roots.reasons == ["server request roots is allowed for anyone"]
}
