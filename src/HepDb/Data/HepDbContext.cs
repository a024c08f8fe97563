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
    public DbSet<Web.Users.DashboardUser> DashboardUsers => Set<Web.Users.DashboardUser>();
    public DbSet<Web.Users.DataProtectionKey> DataProtectionKeys => Set<Web.Users.DataProtectionKey>();

    protected override void ConfigureConventions(ModelConfigurationBuilder builder)
    {
        // Every timestamp is UTC. SQLite hands them back as Unspecified; PostgreSQL timestamptz insists on Utc.
        builder.Properties<DateTime>().HaveConversion<UtcConverter>();
        builder.Properties<DateTime?>().HaveConversion<NullableUtcConverter>();
    }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Account>(e =>
        {
            e.ToTable("accounts");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.Email).HasMaxLength(254);
            e.HasIndex(x => x.Email).IsUnique();
            e.Property(x => x.Tier).HasMaxLength(16);
            e.Property(x => x.SuspendReason).HasMaxLength(500);
            e.Ignore(x => x.Slug);
        });
        b.Entity<ApiKey>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.Label).HasMaxLength(100);
            e.Property(x => x.Prefix).HasMaxLength(20);
            e.Property(x => x.Hash).HasMaxLength(64);
            e.Property(x => x.LastUsedIp).HasMaxLength(64);
            e.HasIndex(x => x.Hash).IsUnique();
            e.HasIndex(x => x.AccountId);
            e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
            e.Ignore(x => x.IsActive);
        });
        b.Entity<TenantDatabase>(e =>
        {
            e.ToTable("databases");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.Name).HasMaxLength(64);
            e.Property(x => x.Engine).HasMaxLength(16);
            e.Property(x => x.DbName).HasMaxLength(64);
            e.Property(x => x.DbUser).HasMaxLength(64);
            e.Property(x => x.PasswordSealed).HasMaxLength(200);
            e.Property(x => x.PendingPasswordSealed).HasMaxLength(200);
            e.Property(x => x.Status).HasMaxLength(16);
            e.Property(x => x.Phase).HasMaxLength(16);
            e.HasIndex(x => new { x.AccountId, x.Engine, x.Slot }).IsUnique();
            e.HasIndex(x => new { x.Engine, x.DbName }).IsUnique();
            e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<AuditEntry>(e =>
        {
            e.ToTable("audit_log");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.Actor).HasMaxLength(64);
            e.Property(x => x.Action).HasMaxLength(64);
            e.Property(x => x.TargetId).HasMaxLength(64);
            e.Property(x => x.Ip).HasMaxLength(64);
            e.Property(x => x.Detail).HasMaxLength(1000);
            e.HasIndex(x => new { x.AccountId, x.At });
        });
        b.Entity<IdempotencyRecord>(e =>
        {
            e.ToTable("idempotency_keys");
            e.HasKey(x => new { x.AccountId, x.Key });
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.Key).HasMaxLength(255);
            e.Property(x => x.RequestHash).HasMaxLength(64);
            e.Property(x => x.DatabaseId).HasMaxLength(26);
            e.HasIndex(x => x.CreatedAt);
        });
        b.Entity<PackGrant>(e =>
        {
            e.ToTable("pack_grants");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.PackId).HasMaxLength(32);
            e.Property(x => x.Source).HasMaxLength(16);
            e.Property(x => x.EventId).HasMaxLength(200);
            e.HasIndex(x => new { x.AccountId, x.ExpiresAt });
            e.HasIndex(x => x.EventId).IsUnique();
            e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<JobRun>(e =>
        {
            e.ToTable("job_runs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.Job).HasMaxLength(32);
            e.Property(x => x.Summary).HasMaxLength(4000);
            e.HasIndex(x => new { x.Job, x.StartedAt });
        });
        b.Entity<Engines.EngineSwitch>(e =>
        {
            e.ToTable("engine_switches");
            e.HasKey(x => x.Engine);
            e.Property(x => x.Engine).HasMaxLength(16);
            e.Property(x => x.ChangedBy).HasMaxLength(64);
        });
        b.Entity<Web.Users.DashboardUser>(e =>
        {
            e.ToTable("dashboard_users");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(26);
            e.Property(x => x.AccountId).HasMaxLength(26);
            e.Property(x => x.Email).HasMaxLength(254);
            e.Property(x => x.NormalizedEmail).HasMaxLength(254);
            e.HasIndex(x => x.NormalizedEmail).IsUnique();
            e.HasIndex(x => x.AccountId);
            e.Property(x => x.PasswordHash).HasMaxLength(512);
            e.Property(x => x.SecurityStamp).HasMaxLength(64);
            e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<Web.Users.DataProtectionKey>(e =>
        {
            e.ToTable("data_protection_keys");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(64);
            e.Property(x => x.FriendlyName).HasMaxLength(256);
        });
        b.Entity<Lease>(e =>
        {
            e.ToTable("leases");
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasMaxLength(64);
            e.Property(x => x.Holder).HasMaxLength(64);
        });
    }

    private sealed class UtcConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.ToUniversalTime(), DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

    private sealed class NullableUtcConverter() : ValueConverter<DateTime?, DateTime?>(
        v => v == null ? v : v.Value.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.Value.ToUniversalTime(), DateTimeKind.Utc),
        v => v == null ? v : DateTime.SpecifyKind(v.Value, DateTimeKind.Utc));
}
