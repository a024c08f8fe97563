using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Quotas;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Data;

/// <summary>The metadata store. The same model and the same hand-written migrations serve SQLite and PostgreSQL,
/// so column types are left to each provider (no provider-specific types or SQL here).</summary>
public sealed class HepDbContext(DbContextOptions<HepDbContext> options) : DbContext(options)
{
    public DbSet<Account> Accounts => Set<Account>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<TenantDatabase> Databases => Set<TenantDatabase>();
    public DbSet<AuditEntry> AuditLog => Set<AuditEntry>();
    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();
    public DbSet<Lease> Leases => Set<Lease>();
    public DbSet<PackGrant> PackGrants => Set<PackGrant>();
    public DbSet<JobRun> JobRuns => Set<JobRun>();
    public DbSet<Engines.EngineSwitch> EngineSwitches => Set<Engines.EngineSwitch>();
    public DbSet<Backups.Backup> Backups => Set<Backups.Backup>();
    public DbSet<Web.Users.DashboardUser> DashboardUsers => Set<Web.Users.DashboardUser>();
    public DbSet<Web.Users.DataProtectionKey> DataProtectionKeys => Set<Web.Users.DataProtectionKey>();
    public DbSet<Usage.UsageSample> UsageSamples => Set<Usage.UsageSample>();
    public DbSet<Usage.UsageSeries> UsageSeries => Set<Usage.UsageSeries>();
    public DbSet<Usage.FleetSample> FleetSamples => Set<Usage.FleetSample>();
    public DbSet<Fleet.EngineServer> EngineServers => Set<Fleet.EngineServer>();

    protected override void ConfigureConventions(ModelConfigurationBuilder builder)
    {
        // Every timestamp is UTC. SQLite hands them back as Unspecified; PostgreSQL timestamptz insists on Utc.
        builder.Properties<DateTime>().HaveConversion<UtcConverter>();
        builder.Properties<DateTime?>().HaveConversion<NullableUtcConverter>();
        // Enums are stored as their wire names, the strings the columns held before they were enums.
        builder.Properties<Tier>().HaveConversion<TierConverter>();
        builder.Properties<DatabaseStatus>().HaveConversion<DatabaseStatusConverter>();
        builder.Properties<DatabasePhase>().HaveConversion<DatabasePhaseConverter>();
        builder.Properties<Engines.EngineKind>().HaveConversion<Engines.EngineKindConverter>();
        builder.Properties<Fleet.ServerState>().HaveConversion<Fleet.ServerStateConverter>();
        builder.Properties<Backups.BackupKind>().HaveConversion<Backups.BackupKindConverter>();
        builder.Properties<Backups.BackupStatus>().HaveConversion<Backups.BackupStatusConverter>();
    }

    /// <summary>Each entity's configuration sits beside it (its table, indexes, keys and column lengths). Two rules hold
    /// for all: a property named <c>Id</c> is the key (EF's own convention), and a ULID column (an <c>Id</c>, or an
    /// <c>AccountId</c> or <c>DatabaseId</c> that points at one) holds 26 characters unless its entity says otherwise.</summary>
    protected override void OnModelCreating(ModelBuilder b)
    {
        b.ApplyConfigurationsFromAssembly(typeof(HepDbContext).Assembly);
        foreach (var ulid in b.Model.GetEntityTypes().SelectMany(t => t.GetProperties())
                     .Where(p => p.ClrType == typeof(string) && p.Name is "Id" or "AccountId" or "DatabaseId" or "RestoreBackupId" or "RestoreSafetyId" or "RecoveredInto" && p.GetMaxLength() is null))
            ulid.SetMaxLength(26);
    }

    private sealed class UtcConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.ToUniversalTime(), DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

    private sealed class NullableUtcConverter() : ValueConverter<DateTime?, DateTime?>(
        v => v == null ? v : v.Value.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.Value.ToUniversalTime(), DateTimeKind.Utc),
        v => v == null ? v : DateTime.SpecifyKind(v.Value, DateTimeKind.Utc));
}
