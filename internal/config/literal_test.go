package config

import (
	"maps"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// literalStringMap takes only what evaluation would give the same value
// for, and leaves the rest to evaluation.
func TestLiteralStringMap(t *testing.T) {
	for src, wantLiteral := range map[string]bool{
		`{}`:                                    true,
		`{ audience = "api" }`:                  true,
		`{ "access_type" = "offline", a = "" }`: true,
		`{ a = "x${"y"}" }`:                     false,
		`{ (k) = "v" }`:                         false,
		`{ a = 1 }`:                             false,
		`{ a = "x", a = "y" }`:                  false,
		`var.params`:                            false,
	} {
		expr, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", src, diags)
		}
		got, ok := literalStringMap(expr)
		if ok != wantLiteral {
			t.Errorf("%s: literal = %v, want %v", src, ok, wantLiteral)
			continue
		}
		if !ok {
			continue
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", src, diags)
		}
		v, err := convert.Convert(v, cty.Map(cty.String))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			want[k.AsString()] = e.AsString()
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: literal %v, evaluated %v", src, got, want)
		}
	}
}
