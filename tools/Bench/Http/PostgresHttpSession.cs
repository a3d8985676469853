using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;

namespace Multicast.Bench.Http;

/// <summary>The PostgreSQL baseline's <see cref="ISession"/>: the row's attributes in memory for the request; the middleware loads and stores them.</summary>
internal sealed class PostgresHttpSession(string id, Dictionary<string, byte[]> attributes, bool readOnly) : ISession
{
    public bool IsAvailable => true;

    public string Id => id;

    public IEnumerable<string> Keys => attributes.Keys;

    public bool IsChanged { get; private set; }

    public Dictionary<string, byte[]> Attributes => attributes;

    public Task LoadAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task CommitAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public bool TryGetValue(string key, [NotNullWhen(true)] out byte[]? value) => attributes.TryGetValue(key, out value);

    public void Set(string key, byte[] value)
    {
        ThrowIfReadOnly();
        attributes[key] = value;
        IsChanged = true;
    }

    public void Remove(string key)
    {
        ThrowIfReadOnly();
        IsChanged |= attributes.Remove(key);
    }

    public void Clear()
    {
        ThrowIfReadOnly();
        IsChanged |= attributes.Count > 0;
        attributes.Clear();
    }

    private void ThrowIfReadOnly()
    {
        if (readOnly)
            throw new InvalidOperationException("The session is read-only in this request.");
    }
}
