namespace HepDb.Tests.Infrastructure;

/// <summary>A clock tests can move forward (pack expiry, idempotency windows). Timers still run on real time.</summary>
public sealed class TestClock : TimeProvider
{
    private TimeSpan _offset;
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + _offset;
    public void Advance(TimeSpan by) => _offset += by;
}
