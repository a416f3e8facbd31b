// Package chat renders Hugging Face chat templates exactly as Python
// transformers does.
//
// Transformers renders a model's chat template with Jinja2 in an
// ImmutableSandboxedEnvironment (trim_blocks, lstrip_blocks, loop controls,
// the {% generation %} tag, its own tojson, raise_exception and
// strftime_now). No Go module reproduces that byte for byte, so this package
// holds its own Jinja engine: a lexer and parser that follow Jinja2 3.1's
// grammar (including its precedence rules, which differ from Python's), and a
// tree-walking evaluator whose values behave like Python's: str/repr
// printing, float repr, arbitrary-precision ints, floor division, ordered
// dicts, Python string methods counting code points, Undefined versus None.
//
// Compile a template once with Compile and render it many times with
// Template.Render or Template.RenderChat. A template that raises returns an
// *Error whose Type is the Python exception class (TemplateError,
// UndefinedError, TypeError, ...) and whose Msg is str(exception); it never
// returns partial text. Rendering is bounded (recursion depth, loop sizes,
// output size, big-int size, total work), so arbitrary template text cannot
// make it panic or hang.
package chat
