// What a front end (the CLI, the MCP server, the dashboard, a program of yours) sees when it
// writes `import SutradharKit`: the types it needs, exported by name, and nothing else of the
// layers below. A type a front end starts to need is added here, on purpose; the modules
// themselves stay private to the library. `LibraryBoundaryTests` checks that the front ends
// import nothing below this module.

// Attestation
@_exported import struct Attestation.AttestationError
@_exported import struct Attestation.VerifyingKey

// Automation
@_exported import enum Automation.CalendarCheck
@_exported import enum Automation.NightlyRebuild
@_exported import struct Automation.NightlyReport
@_exported import struct Automation.SystemdUnits
@_exported import struct Automation.SystemdUserManager
@_exported import struct Automation.WatchLoop

// BuildCache
@_exported import struct BuildCache.BuildCache
@_exported import enum BuildCache.CacheArea
@_exported import struct BuildCache.CacheError
@_exported import struct BuildCache.CacheKey
@_exported import struct BuildCache.GCPolicy
@_exported import struct BuildCache.LastGC

// Engine
@_exported import struct Engine.AttestationSettings
@_exported import struct Engine.ClassifiedFailure
@_exported import struct Engine.DockerSession
@_exported import struct Engine.Engine
@_exported import struct Engine.ReproduceSettings
@_exported import struct Engine.RunOptions

// FileWatching
@_exported import struct FileWatching.CallerError

// GitMirror
@_exported import struct GitMirror.GitMirror

// Insights
@_exported import struct Insights.CacheInsights
@_exported import struct Insights.PipelineInsights
@_exported import struct Insights.ReproducibilityFindings
@_exported import struct Insights.ReproducibilityHistory

// KubeRendering
@_exported import enum KubeRendering.KubeCacheVolume
@_exported import struct KubeRendering.KubeManifests
@_exported import struct KubeRendering.KubeRenderOptions

// Launcher
@_exported import class Launcher.RunLauncher
@_exported import struct Launcher.RunRefused

// RunTracing
@_exported import enum RunTracing.RequestTracing

// Maintenance
@_exported import struct Maintenance.CacheClearReport
@_exported import struct Maintenance.CacheEntryReport
@_exported import struct Maintenance.CacheGCReport
@_exported import struct Maintenance.CacheListReport
@_exported import struct Maintenance.CacheTools
@_exported import struct Maintenance.CacheUsageReport
@_exported import struct Maintenance.CacheVerifyReport
@_exported import enum Maintenance.Doctor
@_exported import struct Maintenance.DoctorCheck
@_exported import struct Maintenance.DoctorReport

// Pipeline
@_exported import struct Pipeline.ByteSize
@_exported import struct Pipeline.DefinitionCheck
@_exported import struct Pipeline.DefinitionError
@_exported import enum Pipeline.DefinitionMasking
@_exported import struct Pipeline.Diagnostic
@_exported import enum Pipeline.DurationText
@_exported import struct Pipeline.PipelineDefinition
@_exported import enum Pipeline.PipelineLoader
@_exported import enum Pipeline.PipelineLocator
@_exported import struct Pipeline.Plan
@_exported import enum Pipeline.Planner
@_exported import struct Pipeline.SourcePosition
@_exported import struct Pipeline.SourceSpec

// RunEvents
@_exported import enum RunEvents.JSONValue
@_exported import struct RunEvents.OrderedJSONEncoder
@_exported import enum RunEvents.Remedy
@_exported import struct RunEvents.RunEvent
@_exported import enum RunEvents.RunStatus
@_exported import struct RunEvents.RunSummary
@_exported import struct RunEvents.StageResult
@_exported import enum RunEvents.StageStatus

// RunHistory
@_exported import class RunHistory.HistoryRecorder
@_exported import struct RunHistory.LogLine
@_exported import struct RunHistory.RunAttestation
@_exported import struct RunHistory.RunDetails
@_exported import class RunHistory.RunHistory
@_exported import struct RunHistory.RunHistoryError
@_exported import struct RunHistory.RunRecord
@_exported import struct RunHistory.RunTimeline
@_exported import enum RunHistory.RunTrigger
@_exported import struct RunHistory.StageDurationHistogram

// Verification
@_exported import struct Verification.AttestationCheck
@_exported import enum Verification.AttestationTools
