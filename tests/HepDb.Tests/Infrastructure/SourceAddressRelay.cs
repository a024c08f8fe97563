using System.Net;
using System.Net.Sockets;

namespace HepDb.Tests.Infrastructure;

/// <summary>
/// A TCP relay that makes a client reach a server from another loopback address: it listens on 127.0.0.1 and opens
/// its connection to the server from <c>source</c> (e.g. 127.0.0.2), so the server sees that address. psql and the
/// mariadb client of this Debian release cannot choose their source address themselves. Bytes pass unchanged, TLS
/// included.
/// </summary>
public sealed class SourceAddressRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public SourceAddressRelay(IPAddress source, int serverPort)
    {
        _listener.Start();
        _accepting = Task.Run(() => AcceptAsync(source, serverPort));
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary><paramref name="connectionString"/> pointed at the relay instead of the server.</summary>
    public string Through(string connectionString) => new UriBuilder(connectionString) { Port = Port }.Uri.ToString();

    private async Task AcceptAsync(IPAddress source, int serverPort)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var c = client;
                using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                server.Bind(new IPEndPoint(source, 0));
                await server.ConnectAsync(IPAddress.Loopback, serverPort);
                await Task.WhenAny(PumpAsync(c, server), PumpAsync(server, c));
            });
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer)) > 0) await to.SendAsync(buffer.AsMemory(0, n));
            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _accepting; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
