namespace HepDb.Databases;

/// <summary>One provisioned database and its dedicated engine user.</summary>
public sealed class TenantDatabase
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string Name { get; set; }
    public required string Engine { get; init; }
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
    public string Status { get; set; } = DatabaseStatus.Active;

    /// <summary>Lifecycle: <c>provisioning</c> → <c>ready</c> → <c>deleting</c>. Only ready records are shown;
    /// the reconciler finishes or rolls back the others.</summary>
    public string Phase { get; set; } = DatabasePhase.Provisioning;
    public DateTime PhaseChangedAt { get; set; }

    /// <summary>The per-user connection limit currently applied on the engine.</summary>
    public int ConnectionLimit { get; set; }

    public long SizeBytes { get; set; }
    public DateTime? SizeRefreshedAt { get; set; }
    public DateTime CreatedAt { get; init; }
}

public static class DatabaseStatus
{
    public const string Active = "active";
    public const string OverQuota = "over_quota";
    public const string Disabled = "disabled";
}

public static class DatabasePhase
{
    public const string Provisioning = "provisioning";
    public const string Ready = "ready";
    public const string Deleting = "deleting";
}

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
