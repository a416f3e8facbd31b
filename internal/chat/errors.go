package chat

import "fmt"

// Error is a template error: a Python exception raised while compiling or
// rendering. Type is the exception's class name as Python names it
// (TemplateSyntaxError, TemplateError, UndefinedError, TypeError,
// ValueError, ZeroDivisionError, SecurityError, TemplateRuntimeError, ...),
// Msg is str(exception).
type Error struct {
	Type string // Python exception class name
	Msg  string // the exception message, as str(exception)
	Line int    // template line (1-based) for syntax errors, else 0
}

// Error returns "Type: Msg" (with the line for syntax errors).
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.Type, e.Msg, e.Line)
	}
	return e.Type + ": " + e.Msg
}

// Exception class names used by the engine.
const (
	errSyntax    = "TemplateSyntaxError"
	errAssertion = "TemplateAssertionError"
	errTemplate  = "TemplateError"
	errRuntime   = "TemplateRuntimeError"
	errUndefined = "UndefinedError"
	errSecurity  = "SecurityError"
	errType      = "TypeError"
	errValue     = "ValueError"
	errZeroDiv   = "ZeroDivisionError"
	errOverflow  = "OverflowError"
	errIndex     = "IndexError"
	errKey       = "KeyError"
	errFilterArg = "FilterArgumentError"
	errLimit     = "LimitError" // a memfit resource limit, not a Python class
)

// newErr builds an *Error with a formatted message.
func newErr(typ, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Type: typ, Msg: format}
	}
	return &Error{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

func typeErr(format string, args ...any) *Error { return newErr(errType, format, args...) }

// ctrl tells statement execution how to continue: normally, or by a
// {% break %} / {% continue %} travelling up to the enclosing loop.
type ctrl uint8

const (
	ctrlNone ctrl = iota
	ctrlBreak
	ctrlContinue
)
