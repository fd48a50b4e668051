# METADATA
# description: |
#   Helpers shared by the example policy's packages: decision objects in the shape of
#   docs/policy-contract.md, and group membership.
package portcullis.lib

# METADATA
# description: An allowing decision with one rule id and one reason.
allow(rule_id, reason) := {"allow": true, "reasons": [reason], "rule_ids": [rule_id]}

# METADATA
# description: A denying decision with one rule id and one reason.
deny(rule_id, reason) := {"allow": false, "reasons": [reason], "rule_ids": [rule_id]}

# METADATA
# description: |
#   True when a subject holding `groups` may use something open to `allowed` groups.
#   The group "*" in `allowed` means anyone, including subjects without groups.
# scope: document
member_of(_, allowed) if "*" in allowed

member_of(groups, allowed) if {
	some group in groups
	group in allowed
}

# METADATA
# description: The groups as a comma-separated list for reasons ("anyone" for "*").
# scope: document
describe_groups(allowed) := "anyone" if "*" in allowed

describe_groups(allowed) := concat(", ", allowed) if not "*" in allowed
