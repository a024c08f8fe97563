using HepDb.Engines;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace HepDb.Usage;

/// <summary>How fine a sample is. Stored as its number (never shown to anyone), which keeps each of the many rows small.</summary>
public enum UsageResolution
{
    /// <summary>One sample per watcher pass, kept for <see cref="UsageRetention.Raw"/>.</summary>
    Raw = 0,

    /// <summary>One sample per hour (the largest of the hour's passes), kept for <see cref="UsageRetention.Hourly"/>.</summary>
    Hourly = 1,

    /// <summary>One sample per day (the largest of the day's hours), kept for <see cref="UsageRetention.Daily"/>.</summary>
    Daily = 2,
}

/// <summary>One database's size and open connections in one bucket. <see cref="Bucket"/> is the bucket's start in Unix
/// seconds (UTC): an integer is a few bytes on both providers where a timestamp is 27 characters of text on SQLite, and
/// the hour or day it falls in is plain integer division, which both providers translate.</summary>
public sealed class UsageSample
{
    public required string DatabaseId { get; init; }
    public UsageResolution Resolution { get; init; }
    public long Bucket { get; init; }

    /// <summary>The size measured (the largest in the bucket once downsampled).</summary>
    public long SizeBytes { get; set; }

    /// <summary>Open connections of the database's user (the most in the bucket once downsampled); null when its
    /// server could not count them in that pass.</summary>
    public int? Connections { get; set; }
}

/// <summary>The <c>usage_samples</c> table. The key serves the dashboard (one database's recent samples); the second
/// index serves downsampling and retention, which take whole time ranges of one resolution.</summary>
public sealed class UsageSampleConfiguration : IEntityTypeConfiguration<UsageSample>
{
    public void Configure(EntityTypeBuilder<UsageSample> e)
    {
        e.ToTable("usage_samples");
        e.HasKey(x => new { x.DatabaseId, x.Resolution, x.Bucket });
        e.HasIndex(x => new { x.Resolution, x.Bucket });
    }
}

/// <summary>One engine server's totals in one bucket: bytes of HepDb's ready databases on it and how many there are.</summary>
public sealed class FleetSample
{
    public EngineKind Engine { get; init; }

    /// <summary>The server's name within its engine (<see cref="Fleet.EngineServer.Name"/>).</summary>
    public string Server { get; init; } = Fleet.EngineServer.DefaultName;
    public UsageResolution Resolution { get; init; }
    public long Bucket { get; init; }
    public long Bytes { get; set; }
    public int Databases { get; set; }
}

/// <summary>The <c>fleet_samples</c> table: a few rows per pass, keyed by server, resolution and bucket.</summary>
public sealed class FleetSampleConfiguration : IEntityTypeConfiguration<FleetSample>
{
    public void Configure(EntityTypeBuilder<FleetSample> e)
    {
        e.ToTable("fleet_samples");
        e.Property(x => x.Engine).HasMaxLength(16);
        e.Property(x => x.Server).HasMaxLength(63);
        e.HasKey(x => new { x.Engine, x.Server, x.Resolution, x.Bucket });
    }
}
