namespace HepDb.Accounts;

public sealed class Account
{
    public required string Id { get; init; }
    public required string Email { get; set; }
    public string Tier { get; set; } = Tiers.Free;
    public DateTime CreatedAt { get; init; }
    public DateTime? SuspendedAt { get; set; }
    public string? SuspendReason { get; set; }

    /// <summary>Bumped inside every transaction that reserves a slot: the update takes the account's write lock on
    /// both providers (SQLite: the database write lock; PostgreSQL: the row lock), so slot checks serialize per account.</summary>
    public long Revision { get; set; }

    /// <summary>The last 10 characters of the id, lower-cased, non-alphanumerics replaced by 'x' (SPEC §2).</summary>
    public string Slug => NameSlug(Id);

    public static string NameSlug(string accountId)
    {
        var tail = accountId.Length > 10 ? accountId[^10..] : accountId;
        return new string(tail.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : 'x').ToArray());
    }
}

public static class Tiers
{
    public const string Free = "free";
    public const string Premium = "premium";
    public const string Admin = "admin";
    public static readonly string[] All = [Free, Premium, Admin];
}
