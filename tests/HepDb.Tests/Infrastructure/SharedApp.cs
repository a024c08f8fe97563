namespace HepDb.Tests.Infrastructure;

/// <summary>
/// One <see cref="HepDbApp"/> for all the tests of a class (a class fixture), started by the first test that asks and
/// stopped after the last. For tests that work as accounts of their own and look only at those accounts (their rows,
/// audit entries and engine objects): what each asserts is the same as with an app of its own, without starting a
/// server per test. A test that needs other settings, a clock, a real socket or a log of its own makes its own
/// <see cref="HepDbApp"/>.
/// </summary>
public sealed class SharedApp : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private HepDbApp? _app;

    /// <summary>The class's app on <paramref name="engines"/> (its metadata provider included); the same app for every
    /// call, so every test of a class must ask for the same provider.</summary>
    public HepDbApp For(EngineServers engines)
    {
        lock (_gate)
        {
            // The class's tests all send from one address: their failed authentications must not add up to a block.
            _app ??= new HepDbApp(engines, new() { ["RateLimits:FailedAuthPerIpPerMinute"] = "1000" });
            Assert.Equal(engines.Metadata, _app.Engines.Metadata);
            return _app;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
