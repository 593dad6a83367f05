# plantwin — the Makefile is the single source for CI (.ci/run calls `make test`).
# Tools it needs are installed into ./.bin from the Go module proxy on first use.

GO        ?= go
BIN       := $(CURDIR)/.bin
PLANTWIN  := $(BIN)/plantwin
export PATH := $(BIN):$(PATH)

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
STATICCHECK_VERSION        := v0.8.2
GRPCURL_VERSION            := v1.9.4

# Packages with tests; `go test` runs them one package at a time on 2 cores.
TEST_FLAGS ?= -count=1 -timeout 15m
FUZZTIME   ?= 30s
BENCH_ARGS ?=

.PHONY: all build run test test-race lint generate fuzz bench bench-api bench-go bench-sim bench-cluster check tools clean

all: build

build:
	$(GO) build -o $(PLANTWIN) ./cmd/plantwin

## run: one node on embedded defaults — Pebble under ./data, gRPC on 127.0.0.1:7070, the bundled demo plant.
run: build
	$(PLANTWIN) serve --demo --data ./data

## test: the whole suite (real Pebble on disk, real protoactor cluster, real processes; the
## docs' grpcurl examples run with grpcurl from .bin).
test: $(BIN)/grpcurl
	$(GO) test $(TEST_FLAGS) ./...

test-race: $(BIN)/grpcurl
	$(GO) test -race $(TEST_FLAGS) ./...

$(BIN)/grpcurl:
	GOBIN=$(BIN) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' ':!third_party')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

$(BIN)/buf:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc

## generate: regenerate api/plantwin/v1/*.pb.go from the .proto files (output is committed).
generate: tools
	$(BIN)/buf lint
	$(BIN)/buf generate

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseConfig$$' -fuzztime=$(FUZZTIME) ./twins
	$(GO) test -run='^$$' -fuzz='^FuzzTwinKey$$' -fuzztime=$(FUZZTIME) ./persistence
	$(GO) test -run='^$$' -fuzz='^FuzzHistoryKey$$' -fuzztime=$(FUZZTIME) ./persistence
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeJournal$$' -fuzztime=$(FUZZTIME) ./actors
	$(GO) test -run='^$$' -fuzz='^FuzzParseTokens$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./gateway/auth
	$(GO) test -run='^$$' -fuzz='^FuzzCompile$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./gateway/query
	$(GO) test -run='^$$' -fuzz='^FuzzParseConfig$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge/modbus
	$(GO) test -run='^$$' -fuzz='^FuzzPayload$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge/mqtt
	$(GO) test -run='^$$' -fuzz='^FuzzResponse$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge/mqtt
	$(GO) test -run='^$$' -fuzz='^FuzzFromVariant$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge/opcua
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeService$$' -fuzzminimizetime=5s -fuzztime=$(FUZZTIME) ./edge/opcua

## bench: the system benchmarks: durable ingest at 10k and 100k twins beside raw protoactor and
## Pebble ceilings, then the gRPC API (GetTwin, ListTwins, Watch) beside the empty-RPC ceiling,
## then the Modbus, MQTT and OPC UA connectors beside a bare client of the same device.
bench: build
	$(PLANTWIN) bench $(BENCH_ARGS)
	$(PLANTWIN) bench api $(BENCH_API_ARGS)
	$(PLANTWIN) bench modbus
	$(PLANTWIN) bench mqtt
	$(PLANTWIN) bench opcua
	$(PLANTWIN) bench rules

## bench-api: only the gRPC API benchmark.
bench-api: build
	$(PLANTWIN) bench api $(BENCH_API_ARGS)

## bench-sim: how much faster than real time each bundled scenario runs (the
## wind farm at 1,000 and 10,000 turbines), and the direct replay rate beside
## the node's ingest ceiling (about 2 minutes).
bench-sim:
	$(GO) test ./simulations/simrun -run='^$$' -bench='BenchmarkScenarios|BenchmarkReplayDirect' -benchtime=1x

## bench-cluster: three serve processes on this machine: writes/s with 1, 2
## and 3 nodes, local vs cross-node latency, twins' unavailability on join,
## drain and crash (docs/BENCHMARKS.md, "Cluster").
bench-cluster:
	$(GO) test ./cmd/plantwin -run='^$$' -bench=BenchmarkCluster -benchtime=1x -timeout=20m -v

## bench-go: the package micro-benchmarks.
bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## check: what must hold before a commit lands.
check: lint test

clean:
	rm -rf $(BIN)
