package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/plantwin/plantwin/gateway/auth"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API bearer tokens"}
	cmd.AddCommand(newTokenCreateCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var role, file, name string
	cmd := &cobra.Command{
		Use:   "create --role ROLE --file FILE [--name NAME]",
		Short: "Create a bearer token; print it once; store only its hash",
		Long: `Create a random bearer token with a role (viewer, operator or admin), add its
SHA-256 hash to FILE (created with mode 0600 if missing) and print the token
alone on the last line of the output. The token is shown only this once;
plantwin keeps only the hash. Serve with 'plantwin serve --tokens FILE';
a running node picks up new and removed tokens on SIGHUP.

Roles: viewer reads, watches and queries history; operator also sets
desired values (and, later, runs commands and acknowledges alarms); admin
may do everything, including backups.`,
		Example: `  plantwin token create --role operator --name hmi-1 --file tokens.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usage(errors.New("--file FILE is required"))
			}
			r, err := auth.ParseRole(role)
			if err != nil {
				return usage(fmt.Errorf("--role: %w", err))
			}
			now := time.Now()
			if name == "" {
				name = fmt.Sprintf("%s-%s", r, now.UTC().Format("20060102-150405"))
			}
			tok, err := auth.CreateToken(file, name, r, now)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "created token %q with role %s in %s (only its hash is stored).\n", name, r, file)
			fmt.Fprintln(w, "It is shown once; keep it secret. Pass it with --token or PLANTWIN_TOKEN:")
			_, err = fmt.Fprintln(w, tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "viewer", "viewer, operator or admin")
	f.StringVar(&file, "file", "", "token file to add the token's hash to")
	f.StringVar(&name, "name", "", "token name, recorded as 'token:NAME' with every write it makes (default ROLE-TIMESTAMP)")
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"viewer", "operator", "admin"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
