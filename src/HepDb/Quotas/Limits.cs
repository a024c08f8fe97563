using HepDb.Accounts;

namespace HepDb.Quotas;

/// <summary>One tier's base limits. MB means 1,048,576 bytes.</summary>
public sealed class TierLimits
{
    public int Databases { get; set; }
    public long StorageMb { get; set; }
    public int ConnectionsPerUser { get; set; }
    public int ActiveKeys { get; set; }

    /// <summary>Days a scheduled or manual backup is kept.</summary>
    public int BackupRetentionDays { get; set; }

    /// <summary>Backups a tenant may ask for per database per UTC day (the daily scheduled one does not count).</summary>
    public int ManualBackupsPerDay { get; set; }
}

/// <summary>Tier base limits (SPEC §1); each can be overridden in configuration.</summary>
public sealed class TiersOptions
{
    public const string Section = "Tiers";

    public TierLimits Free { get; set; } = new() { Databases = 1, StorageMb = 100, ConnectionsPerUser = 10, ActiveKeys = 2, BackupRetentionDays = 3, ManualBackupsPerDay = 3 };
    public TierLimits Premium { get; set; } = new() { Databases = 2, StorageMb = 500, ConnectionsPerUser = 25, ActiveKeys = 10, BackupRetentionDays = 14, ManualBackupsPerDay = 10 };
    public TierLimits Admin { get; set; } = new() { Databases = 100, StorageMb = 102_400, ConnectionsPerUser = 100, ActiveKeys = 50, BackupRetentionDays = 30, ManualBackupsPerDay = 50 };

    public TierLimits For(Tier tier) => tier switch
    {
        Tier.Premium => Premium,
        Tier.Admin => Admin,
        _ => Free,
    };
}

/// <summary>What an account may use right now: its tier's base plus every unexpired pack.</summary>
public sealed record EffectiveLimits(int Databases, long StorageBytes, int ConnectionsPerUser, int ActiveKeys)
{
    public const long Mb = 1_048_576;

    /// <summary>Pure: tier base + the slots and megabytes of every pack that has not expired at <paramref name="now"/>.</summary>
    public static EffectiveLimits Compute(TierLimits tier, IEnumerable<PackGrant> packs, DateTime now)
    {
        var active = packs.Where(p => p.ExpiresAt > now).ToList();
        return new EffectiveLimits(
            tier.Databases + active.Sum(p => p.Slots),
            (tier.StorageMb + active.Sum(p => p.StorageMb)) * Mb,
            tier.ConnectionsPerUser,
            tier.ActiveKeys);
    }
}
