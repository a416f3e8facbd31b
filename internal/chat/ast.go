package chat

// expr is an expression node; eval computes its value in a scope.
type expr interface {
	eval(r *renderer, s *scope) (Value, error)
}

// stmt is a statement node; exec runs it, writing output to r.
type stmt interface {
	exec(r *renderer, s *scope) (ctrl, error)
}

// Expression nodes.
type (
	constExpr   struct{ v Value }
	nameExpr    struct{ name string }
	getattrExpr struct {
		x    expr
		attr string
	}
	getitemExpr struct{ x, key expr }
	sliceExpr   struct {
		x                 expr
		start, stop, step expr // nil when omitted
	}
	// sliceLit is a slice inside a subscript tuple (x[1:2, 3]); it only
	// evaluates to an error.
	sliceLit  struct{}
	listExpr  struct{ items []expr }
	tupleExpr struct{ items []expr }
	dictExpr  struct{ keys, vals []expr }
	binExpr   struct {
		op   string // + - * / // % **
		l, r expr
	}
	andExpr     struct{ l, r expr }
	orExpr      struct{ l, r expr }
	notExpr     struct{ x expr }
	negExpr     struct{ x expr }
	posExpr     struct{ x expr }
	concatExpr  struct{ args []expr }
	compareExpr struct {
		first  expr
		ops    []string // eq ne lt lteq gt gteq in notin
		rights []expr
	}
	condExpr struct {
		test, a, b expr // b nil when there is no else
		line       int
	}
	callArgs struct {
		args      []expr
		kwNames   []string
		kwVals    []expr
		dynArgs   expr
		dynKwargs expr
	}
	callExpr struct {
		fn expr
		callArgs
	}
	filterExpr struct {
		x    expr // nil for a {% filter %} block: the body text
		name string
		fn   *filterDef // nil if unknown (raises when evaluated)
		callArgs
	}
	testExpr struct {
		x    expr
		name string
		fn   *testDef // nil if unknown (raises when evaluated)
		callArgs
	}
)

// Statement nodes.
type (
	// outputStmt writes template data and printed expressions.
	outputStmt struct{ parts []outPart }
	ifStmt     struct {
		tests  []expr
		bodies [][]stmt
		els    []stmt
	}
	forStmt struct {
		target    target
		iter      expr
		filter    expr // for ... if filter
		recursive bool
		body, els []stmt
	}
	setStmt struct {
		target target
		value  expr
	}
	setBlockStmt struct {
		target target
		filter *filterExpr // optional {% set x | f %}
		body   []stmt
	}
	macroStmt     struct{ m *macroDef }
	callBlockStmt struct {
		caller *macroDef
		call   *callExpr
	}
	filterBlockStmt struct {
		filter *filterExpr
		body   []stmt
	}
	withStmt struct {
		targets []target
		values  []expr
		body    []stmt
	}
	// scopeStmt runs its body in a new scope ({% generation %}, {% block %}).
	scopeStmt struct{ body []stmt }
	// autoescapeStmt switches autoescaping for its body.
	autoescapeStmt struct {
		value expr
		body  []stmt
	}
	breakStmt    struct{}
	continueStmt struct{}
	// failStmt raises when executed (include, import, extends).
	failStmt struct{ err *Error }
)

// outPart is one piece of an output statement: literal text or an
// expression.
type outPart struct {
	text string
	x    expr
}

// target is an assignment target.
type target interface{ isTarget() }

type (
	nameTarget  struct{ name string }
	tupleTarget struct{ items []target }
	nsTarget    struct{ name, attr string }
)

func (nameTarget) isTarget()  {}
func (tupleTarget) isTarget() {}
func (nsTarget) isTarget()    {}

// macroDef is a macro or call-block definition.
type macroDef struct {
	name         string
	params       []string
	defaults     []expr // for the last len(defaults) params
	body         []stmt
	catchKwargs  bool
	catchVarargs bool
	caller       bool // the body uses caller
}
