//go:build tools

// Package tools pins the container registry that build.sh compiles for the
// credential verification tests, so `go mod tidy` keeps its modules in go.sum.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
