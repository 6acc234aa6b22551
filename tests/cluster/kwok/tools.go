//go:build tools

// Package tools pins kwok (fake kubelets for the test cluster). It is a module
// of its own so that its newer dependencies (otel, grpc, x/*) do not change
// the versions kube-apiserver and etcd are built with in ../go.mod.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
