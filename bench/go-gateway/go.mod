module github.com/resilient-runner/resilient-runner/bench/go-gateway

go 1.19
