using HepDb.Accounts;
using HepDb.Engines;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Databases;

/// <summary>One provisioned database and its dedicated engine user.</summary>
public sealed class TenantDatabase
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string Name { get; set; }
    public required EngineKind Engine { get; init; }
    public int Slot { get; init; }
    public required string DbName { get; init; }
    public required string DbUser { get; init; }

    /// <summary>The password, sealed by <see cref="Security.SecretBox"/> with this record's id as associated data.</summary>
    public required string PasswordSealed { get; set; }

    /// <summary>A rotation in flight: the new password is sealed here before it is set on the engine and promoted to
    /// <see cref="PasswordSealed"/> after, so a crash in between is finished by the reconciler instead of leaving a
    /// stored password that no longer works.</summary>
    public string? PendingPasswordSealed { get; set; }
    public DateTime? PendingSince { get; set; }

    /// <summary><c>active</c> | <c>over_quota</c> | <c>disabled</c> (SPEC §2).</summary>
    public DatabaseStatus Status { get; set; } = DatabaseStatus.Active;

    /// <summary>Lifecycle: <c>provisioning</c> → <c>ready</c> → <c>deleting</c>. Only ready records are shown;
    /// the reconciler finishes or rolls back the others.</summary>
    public DatabasePhase Phase { get; set; } = DatabasePhase.Provisioning;
    public DateTime PhaseChangedAt { get; set; }

    /// <summary>The per-user connection limit currently applied on the engine.</summary>
    public int ConnectionLimit { get; set; }

    /// <summary>The restore journal. Set while a backup is being restored into this database (the tenant's user is
    /// locked meanwhile): the backup being restored, and, once it is safely stored, the safety backup of the contents
    /// before. A restore cut short by a crash is finished from these by <see cref="Backups.BackupScheduler"/>.</summary>
    public string? RestoreBackupId { get; set; }
    public string? RestoreSafetyId { get; set; }

    /// <summary>The IP allowlist: allowed client ranges in canonical CIDR form, space-separated; null = from anywhere
    /// (see <see cref="Allowlists.Cidrs"/>). <see cref="AllowlistPending"/> is set while it is being applied on the
    /// engine (or after an attempt failed), so the reconciler applies it if the request that set it could not.</summary>
    public string? AllowedCidrs { get; set; }
    public bool AllowlistPending { get; set; }

    /// <summary>The engine server that holds the database (<see cref="Fleet.EngineServer.Id"/>, e.g.
    /// <c>mariadb/default</c>), chosen by placement at creation; every action on the database goes there.</summary>
    public string ServerId { get; set; } = "";

    /// <summary>A move in flight (<see cref="Fleet.DatabaseMover"/>): the server the database is being copied to. Set
    /// before anything exists there and cleared when the record switches to it, so the reconciler knows the copy there
    /// is HepDb's, and rolls a move back that a crash cut short.</summary>
    public string? MoveToServerId { get; set; }

    public long SizeBytes { get; set; }
    public DateTime? SizeRefreshedAt { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>The <c>databases</c> table.</summary>
public sealed class TenantDatabaseConfiguration : IEntityTypeConfiguration<TenantDatabase>
{
    public void Configure(EntityTypeBuilder<TenantDatabase> e)
    {
        e.ToTable("databases");
        e.Property(x => x.Name).HasMaxLength(64);
        e.Property(x => x.Engine).HasMaxLength(16);
        e.Property(x => x.DbName).HasMaxLength(64);
        e.Property(x => x.DbUser).HasMaxLength(64);
        e.Property(x => x.PasswordSealed).HasMaxLength(200);
        e.Property(x => x.PendingPasswordSealed).HasMaxLength(200);
        e.Property(x => x.Status).HasMaxLength(16);
        e.Property(x => x.Phase).HasMaxLength(16);
        e.Property(x => x.AllowedCidrs).HasMaxLength(2500);
        e.Property(x => x.ServerId).HasMaxLength(80);
        e.Property(x => x.MoveToServerId).HasMaxLength(80);
        e.HasIndex(x => x.ServerId);
        e.HasIndex(x => new { x.AccountId, x.Engine, x.Slot }).IsUnique();
        e.HasIndex(x => new { x.Engine, x.DbName }).IsUnique();
        e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Restrict);
    }
}

public enum DatabaseStatus { Active, OverQuota, Disabled }

public static class DatabaseStatuses
{
    private static readonly WireNames<DatabaseStatus> Names =
        new((DatabaseStatus.Active, "active"), (DatabaseStatus.OverQuota, "over_quota"), (DatabaseStatus.Disabled, "disabled"));

    /// <summary>The API value: <c>active</c>, <c>over_quota</c>, <c>disabled</c>.</summary>
    public static string WireName(this DatabaseStatus status) => Names.Of(status);

    public static bool TryParse(string? wire, out DatabaseStatus status) => Names.TryParse(wire, out status);

    public static DatabaseStatus Parse(string wire) => Names.Parse(wire);
}

public enum DatabasePhase { Provisioning, Ready, Deleting }

public static class DatabasePhases
{
    private static readonly WireNames<DatabasePhase> Names =
        new((DatabasePhase.Provisioning, "provisioning"), (DatabasePhase.Ready, "ready"), (DatabasePhase.Deleting, "deleting"));

    /// <summary>The stored value: <c>provisioning</c>, <c>ready</c>, <c>deleting</c>.</summary>
    public static string WireName(this DatabasePhase phase) => Names.Of(phase);

    public static bool TryParse(string? wire, out DatabasePhase phase) => Names.TryParse(wire, out phase);

    public static DatabasePhase Parse(string wire) => Names.Parse(wire);
}

/// <summary>Stores a <see cref="DatabaseStatus"/> as its wire name.</summary>
public sealed class DatabaseStatusConverter() : ValueConverter<DatabaseStatus, string>(s => s.WireName(), s => DatabaseStatuses.Parse(s));

/// <summary>Stores a <see cref="DatabasePhase"/> as its wire name.</summary>
public sealed class DatabasePhaseConverter() : ValueConverter<DatabasePhase, string>(p => p.WireName(), s => DatabasePhases.Parse(s));

/// <summary>A remembered <c>Idempotency-Key</c> of <c>POST /databases</c>. Holds the request hash and the database id,
/// never the response (which carries the password): a replay renders the response again from the record.</summary>
public sealed class IdempotencyRecord
{
    public required string AccountId { get; init; }
    public required string Key { get; init; }
    public required string RequestHash { get; init; }
    public string? DatabaseId { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>The <c>idempotency_keys</c> table.</summary>
public sealed class IdempotencyRecordConfiguration : IEntityTypeConfiguration<IdempotencyRecord>
{
    public void Configure(EntityTypeBuilder<IdempotencyRecord> e)
    {
        e.ToTable("idempotency_keys");
        e.HasKey(x => new { x.AccountId, x.Key });
        e.Property(x => x.Key).HasMaxLength(255);
        e.Property(x => x.RequestHash).HasMaxLength(64);
        e.HasIndex(x => x.CreatedAt);
    }
}
