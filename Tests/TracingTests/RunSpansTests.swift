import Foundation
import Engine
import InMemoryTracing
@testable import RunTracing
import RunEvents
import Testing
import Tracing

/// A run's events as spans, checked with swift-distributed-tracing's in-memory tracer: no
/// exporter, no network (the OTLP path is in `OTLPExportTests`).
@Suite struct RunSpansTests {
    static let run = "20261207-010000-0001"

    static func events(buildStatus: StageStatus, code: StageErrorCode? = nil, runStatus: RunStatus) -> [RunEvent] {
        let checkout = StageResult(name: "checkout", kind: "checkout", status: .passed, cached: true, durationMilliseconds: 3)
        let build = StageResult(name: "build", kind: "nix-build", status: buildStatus, cached: false, durationMilliseconds: 9,
                                error: buildStatus == .passed ? nil : "the builder said no", code: code)
        let smoke = StageResult(name: "smoke", kind: "smoke", status: .skipped, cached: false, durationMilliseconds: 0,
                                error: "not started", code: .dependencyFailed)
        return [
            RunEvent(run: run, .runStarted(pipeline: "web", source: "/src/web", ref: "main", cacheRoot: "/cache")),
            RunEvent(run: run, .stageStarted(stage: "checkout", kind: "checkout")),
            RunEvent(run: run, .stageFinished(checkout)),
            RunEvent(run: run, .stageStarted(stage: "build", kind: "nix-build")),
            RunEvent(run: run, .warning(stage: "build", message: "a loud warning")),
            RunEvent(run: run, .stageFinished(build)),
            RunEvent(run: run, .stageFinished(smoke)),
            RunEvent(run: run, .runFinished(RunSummary(run: run, pipeline: "web", commit: String(repeating: "a", count: 40),
                                                       status: runStatus, durationMilliseconds: 20, stages: [checkout, build, smoke]))),
        ]
    }

    static func spans(of events: [RunEvent]) -> [FinishedInMemorySpan] {
        let tracer = InMemoryTracer()
        let spans = RunSpans(tracer: tracer, pipeline: "web", trigger: "agent", traceparent: nil)
        events.forEach(spans.observe)
        spans.abandon()
        return tracer.finishedSpans
    }

    @Test func aRunIsARootSpanWithOneChildPerStageAndTheConventionsAttributes() throws {
        let spans = Self.spans(of: Self.events(buildStatus: .passed, runStatus: .passed))
        #expect(spans.count == 4)
        let root = try #require(spans.first { $0.parentSpanID == nil })
        #expect(root.operationName == "BUILD web")
        #expect(root.attributes.get("cicd.pipeline.name") == .string("web"))
        #expect(root.attributes.get("cicd.pipeline.run.id") == .string(Self.run))
        #expect(root.attributes.get("cicd.pipeline.result") == .string("success"))
        #expect(root.attributes.get("cicd.pipeline.action.name") == .string("BUILD"))
        #expect(root.attributes.get("vcs.repository.url.full") == .string("file:///src/web"))
        #expect(root.attributes.get("vcs.ref.head.revision") == .string(String(repeating: "a", count: 40)))
        #expect(root.attributes.get("sutradhar.run.trigger") == .string("agent"))
        let children = spans.filter { $0.parentSpanID == root.spanID }
        #expect(Set(children.map(\.operationName)) == ["checkout", "build", "smoke"])
        #expect(children.allSatisfy { $0.traceID == root.traceID })
        let build = try #require(children.first { $0.operationName == "build" })
        #expect(build.attributes.get("cicd.pipeline.task.name") == .string("build"))
        #expect(build.attributes.get("cicd.pipeline.task.run.id") == .string("\(Self.run)/build"))
        #expect(build.attributes.get("cicd.pipeline.task.type") == .string("build"))
        #expect(build.attributes.get("cicd.pipeline.task.run.result") == .string("success"))
        #expect(build.events.contains { $0.name == "warning" && $0.attributes.get("sutradhar.warning") == .string("a loud warning") })
        let checkout = try #require(children.first { $0.operationName == "checkout" })
        #expect(checkout.attributes.get("sutradhar.stage.cached") == .bool(true))
        let smoke = try #require(children.first { $0.operationName == "smoke" })
        #expect(smoke.attributes.get("cicd.pipeline.task.type") == .string("test"))
        #expect(smoke.attributes.get("cicd.pipeline.task.run.result") == .string("skip"))
        #expect(smoke.attributes.get("error.type") == .string("dependency-failed"))
    }

    @Test func aFailedStageRecordsItsExceptionAndTheRunFails() throws {
        let spans = Self.spans(of: Self.events(buildStatus: .failed, code: .nixBuildFailed, runStatus: .failed))
        let build = try #require(spans.first { $0.operationName == "build" })
        #expect(build.attributes.get("cicd.pipeline.task.run.result") == .string("failure"))
        #expect(build.attributes.get("error.type") == .string("nix-build-failed"))
        #expect(build.status?.code == .error)
        let exception = try #require(build.events.first { $0.name == "exception" })
        #expect(exception.attributes.get("exception.type") == .string("nix-build-failed"))
        #expect(exception.attributes.get("exception.message") == .string("the builder said no"))
        let root = try #require(spans.first { $0.parentSpanID == nil })
        #expect(root.attributes.get("cicd.pipeline.result") == .string("failure"))
    }

    @Test func resultValuesFollowTheConventions() {
        let summary = { (status: RunStatus, code: StageErrorCode?) in
            RunSummary(run: "r", pipeline: "p", commit: "", status: status, durationMilliseconds: 1, stages: [
                StageResult(name: "s", kind: "smoke", status: code == nil ? .passed : .failed, cached: false,
                            durationMilliseconds: 1, error: code == nil ? nil : "x", code: code),
            ])
        }
        #expect(RunSpans.pipelineResult(summary(.cancelled, nil)) == "cancellation")
        #expect(RunSpans.pipelineResult(summary(.failed, .timeout)) == "timeout")
        #expect(RunSpans.pipelineResult(summary(.failed, .daemonUnreachable)) == "error")
        #expect(RunSpans.pipelineResult(summary(.failed, .probeFailed)) == "failure")
        #expect(RunSpans.pipelineResult(summary(.passed, nil)) == "success")
    }

    @Test func theWaitForARunSlotAndAStagesStepsAreChildSpansWithTheirOwnTimes() throws {
        let tracer = InMemoryTracer()
        let spans = RunSpans(tracer: tracer, pipeline: "web", trigger: "agent", traceparent: nil)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        spans.observe(RunEvent(run: Self.run, .runStarted(pipeline: "web", source: "/src/web", ref: nil, cacheRoot: "/cache"), time: t0))
        spans.observe(RunEvent(run: Self.run, .queued(reason: "2 runs hold the cache's slots"), time: t0.addingTimeInterval(0.1)))
        spans.observe(RunEvent(run: Self.run, .stageStarted(stage: "build", kind: "nix-build"), time: t0.addingTimeInterval(2.1)))
        spans.observe(step: StageStep(stage: "build", name: "nix build", start: t0.addingTimeInterval(2.2), end: t0.addingTimeInterval(5), failed: false))
        let build = StageResult(name: "build", kind: "nix-build", status: .passed, cached: false, durationMilliseconds: 3000)
        spans.observe(RunEvent(run: Self.run, .stageFinished(build), time: t0.addingTimeInterval(5.1)))
        // A step that ends after its stage (a container removed after the verdict) is still its child.
        spans.observe(step: StageStep(stage: "build", name: "container remove", start: t0.addingTimeInterval(5.1), end: t0.addingTimeInterval(6), failed: true))
        spans.observe(RunEvent(run: Self.run, .runFinished(RunSummary(run: Self.run, pipeline: "web", commit: "", status: .passed,
                                                                      durationMilliseconds: 6000, stages: [build])), time: t0.addingTimeInterval(6)))
        let finished = tracer.finishedSpans
        let root = try #require(finished.first { $0.parentSpanID == nil })
        let stage = try #require(finished.first { $0.operationName == "build" })
        let wait = try #require(finished.first { $0.operationName == "queue wait" })
        #expect(wait.parentSpanID == root.spanID)
        #expect(wait.attributes.get("sutradhar.reason") == .string("2 runs hold the cache's slots"))
        #expect(wait.startInstant.nanosecondsSinceEpoch == 1_800_000_000_100_000_000)
        #expect(wait.endInstant.nanosecondsSinceEpoch == 1_800_000_002_100_000_000)
        let nix = try #require(finished.first { $0.operationName == "nix build" })
        #expect(nix.parentSpanID == stage.spanID)
        #expect(nix.endInstant.nanosecondsSinceEpoch - nix.startInstant.nanosecondsSinceEpoch == 2_800_000_000)
        let removal = try #require(finished.first { $0.operationName == "container remove" })
        #expect(removal.parentSpanID == stage.spanID)
        #expect(removal.status?.code == .error)
    }

    @Test func tracingIsOffUnlessAnEndpointIsNamed() {
        #expect(TraceSettings.from(environment: [:]) == nil)
        #expect(TraceSettings.from(environment: ["OTEL_SERVICE_NAME": "x"]) == nil)
        #expect(TraceSettings.from(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"]) == nil)
        let settings = TraceSettings.from(environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
                                                        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4318"])
        #expect(settings?.endpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(settings?.propagate == true)
        #expect(settings?.exportTimeout == TraceSettings.defaultExportTimeout)
    }

    @Test func theExportTimeoutAndPropagationFollowTheirVariables() {
        let endpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]
        #expect(TraceSettings.from(environment: endpoint.merging(["OTEL_EXPORTER_OTLP_TIMEOUT": "2500"]) { $1 })?.exportTimeout == .milliseconds(2500))
        #expect(TraceSettings.from(environment: endpoint.merging(["OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "40"]) { $1 })?
            .exportTimeout == .milliseconds(40))
        for unreadable in ["soon", "-5", "0", ""] {
            #expect(TraceSettings.from(environment: endpoint.merging(["OTEL_EXPORTER_OTLP_TIMEOUT": unreadable]) { $1 })?.exportTimeout
                == TraceSettings.defaultExportTimeout)
        }
        #expect(TraceSettings.from(environment: endpoint.merging(["SUTRADHAR_TRACE_PROPAGATION": "off"]) { $1 })?.propagate == false)
        #expect(TraceSettings.from(environment: endpoint.merging(["SUTRADHAR_TRACE_PROPAGATION": "on"]) { $1 })?.propagate == true)
        #expect(RunSpans.traceID(inTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == "0af7651916cd43dd8448eb211c80319c")
    }
}
