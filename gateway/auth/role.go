package auth

import (
	"fmt"
	"strconv"
	"strings"
)

// Role is what a caller may do. Roles are ordered: admin ⊇ operator ⊇ viewer.
type Role uint8

const (
	// RoleNone is no role. In a Policy it means "any authenticated caller";
	// an identity with RoleNone is allowed nothing.
	RoleNone Role = iota
	// RoleViewer may read, watch and query history.
	RoleViewer
	// RoleOperator may also set desired values, invoke commands and
	// acknowledge alarms.
	RoleOperator
	// RoleAdmin may do everything, including backups.
	RoleAdmin
)

// roleWant lists the role names accepted by ParseRole, for error messages.
const roleWant = "want viewer, operator or admin"

// ParseRole parses "viewer", "operator" or "admin", ignoring case.
func ParseRole(s string) (Role, error) {
	r, ok := parseRole(s)
	if !ok {
		return RoleNone, fmt.Errorf("auth: %s", unknownRole(s))
	}
	return r, nil
}

func parseRole(s string) (Role, bool) {
	switch strings.ToLower(s) {
	case "viewer":
		return RoleViewer, true
	case "operator":
		return RoleOperator, true
	case "admin":
		return RoleAdmin, true
	}
	return RoleNone, false
}

func unknownRole(s string) string {
	return fmt.Sprintf("unknown role %q (%s)", s, roleWant)
}

// String returns the role's name: "none", "viewer", "operator", "admin",
// or "Role(N)" for a value out of range.
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Allows reports whether a caller with role r may call a method that needs
// required: r is a valid role other than RoleNone and r >= required.
func (r Role) Allows(required Role) bool {
	return r != RoleNone && r <= RoleAdmin && r >= required
}

func (r Role) valid() bool { return r >= RoleViewer && r <= RoleAdmin }
