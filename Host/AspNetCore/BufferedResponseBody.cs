using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Multicast.AspNetCore;

/// <summary>
/// Holds an exclusive request's response until its session is committed, so that a failed commit can still
/// answer 500/503 instead of a 200 whose change was not stored, and the cookie of a new session can still be set.
/// </summary>
internal sealed class BufferedResponseBody : IHttpResponseBodyFeature, IAsyncDisposable
{
    private readonly MemoryStream _buffer = new();
    private PipeWriter? _writer;

    public BufferedResponseBody(IHttpResponseBodyFeature inner)
    {
        Inner = inner;
    }

    public IHttpResponseBodyFeature Inner { get; }

    public Stream Stream => _buffer;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(_buffer, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering()
    {
        // Buffering is what makes a failed commit visible to the client; it stays on.
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(_buffer, path, offset, count, cancellationToken);

    public async Task CompleteAsync()
    {
        if (_writer is not null)
            await _writer.FlushAsync();
    }

    /// <summary>Forgets what the endpoint wrote (the answer becomes an error).</summary>
    public void Reset() => _buffer.SetLength(0);

    /// <summary>Sends the held response through the real body.</summary>
    public async Task CopyToInnerAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        if (_writer is not null)
            await _writer.FlushAsync(cancellationToken);
        if (_buffer.Length > 0)
        {
            if (response.ContentLength is null && !response.Headers.ContainsKey("Transfer-Encoding"))
                response.ContentLength = _buffer.Length;
            await Inner.Stream.WriteAsync(_buffer.GetBuffer().AsMemory(0, (int)_buffer.Length), cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_writer is not null)
            await _writer.CompleteAsync();
        await _buffer.DisposeAsync();
    }
}
