package auth

import (
	"fmt"
	"testing"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr string
	}{
		{in: "viewer", want: RoleViewer},
		{in: "operator", want: RoleOperator},
		{in: "admin", want: RoleAdmin},
		{in: "ADMIN", want: RoleAdmin},
		{in: "Operator", want: RoleOperator},
		{in: "root", wantErr: `auth: unknown role "root" (want viewer, operator or admin)`},
		{in: "none", wantErr: `auth: unknown role "none" (want viewer, operator or admin)`},
		{in: "", wantErr: `auth: unknown role "" (want viewer, operator or admin)`},
		{in: " admin", wantErr: `auth: unknown role " admin" (want viewer, operator or admin)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseRole(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRole(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParseRole(got.String()); err != nil || back != got {
				t.Errorf("ParseRole(%q.String()) = %v, %v", got, back, err)
			}
		})
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{
		RoleNone: "none", RoleViewer: "viewer", RoleOperator: "operator", RoleAdmin: "admin", Role(9): "Role(9)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

func TestRoleAllows(t *testing.T) {
	roles := []Role{RoleNone, RoleViewer, RoleOperator, RoleAdmin, Role(9)}
	// want[caller][required]
	want := map[Role][]bool{
		RoleNone:     {false, false, false, false, false},
		RoleViewer:   {true, true, false, false, false},
		RoleOperator: {true, true, true, false, false},
		RoleAdmin:    {true, true, true, true, false},
		Role(9):      {false, false, false, false, false}, // out of range: nothing
	}
	for _, caller := range roles {
		for i, required := range roles {
			t.Run(fmt.Sprintf("%v needs %v", caller, required), func(t *testing.T) {
				if got := caller.Allows(required); got != want[caller][i] {
					t.Errorf("%v.Allows(%v) = %v, want %v", caller, required, got, want[caller][i])
				}
			})
		}
	}
}
