namespace HepDb.ApiKeys;

public sealed class ApiKey
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public string? Label { get; set; }

    /// <summary>Non-secret prefix shown in the dashboard, e.g. <c>hepgg_db_Ab12</c>.</summary>
    public required string Prefix { get; set; }

    /// <summary>SHA-256 (hex) of the full key. The key itself is never stored.</summary>
    public required string Hash { get; set; }

    public DateTime CreatedAt { get; init; }

    /// <summary>Set when the owner disables the key.</summary>
    public DateTime? DisabledAt { get; set; }

    /// <summary>Set by the suspension cascade; cleared when it is lifted. Independent of <see cref="DisabledAt"/>.</summary>
    public DateTime? SuspendedAt { get; set; }

    public DateTime? LastUsedAt { get; set; }
    public string? LastUsedIp { get; set; }

    public bool IsActive => DisabledAt is null && SuspendedAt is null;
}
