namespace HepDb.Hosting;

/// <summary>
/// Background work that runs once at start and then every <see cref="Interval"/>. A failing pass is logged and the
/// next one runs on schedule: one bad pass (or one unreachable server inside it) never stops the loop.
/// The pass at start is told so: it repairs what a crash left and must not wait for a lease the crashed instance
/// still holds.
/// </summary>
public abstract class PeriodicJob(TimeProvider time, ILogger logger) : BackgroundService
{
    protected TimeProvider Time { get; } = time;
    protected ILogger Logger { get; } = logger;

    protected abstract TimeSpan Interval { get; }

    private readonly TaskCompletionSource _firstPass = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the pass at start has ended (done or failed), so a test can run its own pass knowing that
    /// one no longer overlaps it.</summary>
    public Task FirstPass => _firstPass.Task;

    protected abstract Task RunPassAsync(bool atStart, CancellationToken ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, Time);
        var atStart = true;
        do
        {
            var started = Time.GetTimestamp();
            var succeeded = false;
            try
            {
                await RunPassAsync(atStart, stoppingToken);
                atStart = false;
                succeeded = true;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Logger.JobPassFailed(e, GetType().Name);
            }
            Telemetry.JobPass(GetType().Name, Time.GetElapsedTime(started), succeeded, Time.GetUtcNow());
            _firstPass.TrySetResult();
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
