// Command memfit runs open LLMs inside a memory budget. See README.md.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of every memfit command.
const (
	exitOK        = 0 // success
	exitError     = 1 // the command failed
	exitUsage     = 2 // bad flags or arguments
	exitNoFit     = 3 // the model does not fit the memory budget
	versionString = "0.1.0-dev"
)

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// noFitError marks a model or request that does not fit the memory budget
// (exit code 3).
type noFitError struct{ err error }

func (e noFitError) Error() string { return e.err.Error() }
func (e noFitError) Unwrap() error { return e.err }

// rootCmd is the memfit command; every subcommand adds itself in its file's
// init function.
var rootCmd = &cobra.Command{
	Use:   "memfit",
	Short: "Run open LLMs inside a memory budget",
	Long: `memfit runs open language models (dense and mixture-of-experts) from GGUF
files and Hugging Face folders on one machine, inside the memory budget you set.`,
	SilenceUsage:  true,
	SilenceErrors: true,
	Version:       versionString,
}

// cpuProfile is the --cpuprofile flag: a file for a CPU profile of the
// whole command (go tool pprof reads it).
var cpuProfile string

func init() {
	rootCmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (for go tool pprof)")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line args and returns the process exit code.
func run(args []string) int {
	rootCmd.SetArgs(args)
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	rootCmd.PersistentPreRunE = startProfile
	err := rootCmd.Execute()
	pprof.StopCPUProfile()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "memfit:", err)
	var ue usageError
	var nf noFitError
	switch {
	case errors.As(err, &nf):
		return exitNoFit
	case errors.As(err, &ue), isCobraUsage(err):
		return exitUsage
	}
	return exitError
}

// isCobraUsage recognises the errors cobra returns for unknown commands and
// wrong argument counts, which carry no type of their own.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "received ", "unknown flag", "unknown shorthand flag", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// startProfile starts the CPU profile --cpuprofile asks for.
func startProfile(*cobra.Command, []string) error {
	if cpuProfile == "" {
		return nil
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile %s: %w", cpuProfile, err)
	}
	return nil
}
