namespace HepDb.Audit;

public sealed class AuditEntry
{
    public required string Id { get; init; }
    public DateTime At { get; init; }
    public string? AccountId { get; init; }

    /// <summary>Who: <c>key:{id}</c>, <c>user:{id}</c>, <c>operator:{user id}</c> (admin area), <c>operator</c> (operator tool), <c>signup</c> or <c>system</c>.</summary>
    public required string Actor { get; init; }

    /// <summary>What, e.g. <c>database.created</c>, <c>database.password_revealed</c>, <c>key.minted</c>.</summary>
    public required string Action { get; init; }
    public string? TargetId { get; init; }
    public string? Ip { get; init; }
    public string? Detail { get; init; }
}
