using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
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

/// <summary>The <c>job_runs</c> table.</summary>
public sealed class JobRunConfiguration : IEntityTypeConfiguration<JobRun>
{
    public void Configure(EntityTypeBuilder<JobRun> e)
    {
        e.ToTable("job_runs");
        e.Property(x => x.Job).HasMaxLength(32);
        e.Property(x => x.Summary).HasMaxLength(4000);
        e.HasIndex(x => new { x.Job, x.StartedAt });
    }
}
