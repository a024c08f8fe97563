namespace HepDb.Data;

/// <summary>The outcome of one run of a background job (quota watcher, reconciler), kept so operators can see it.</summary>
public sealed class JobRun
{
    public required string Id { get; init; }
    public required string Job { get; init; }
    public DateTime StartedAt { get; init; }
    public DateTime FinishedAt { get; set; }
    public bool Ok { get; set; }

    /// <summary>A short human-readable summary (no secrets), e.g. per-server query counts and timings.</summary>
    public required string Summary { get; set; }
}
