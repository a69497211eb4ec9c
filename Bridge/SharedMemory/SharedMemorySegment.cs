using System.Collections.Concurrent;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Bridge.Internal;

namespace Bridge;

/*
 * Design notes (shared memory both languages map; see Bridge/SHARED.md)
 *
 * - A segment is a POSIX shared memory object: the file /dev/shm/<name>, exactly what Python's
 *   multiprocessing.shared_memory.SharedMemory(name) creates and opens (shm_open("/<name>")).
 *   .NET named maps are not supported on Linux, so we open the file and map it with
 *   MemoryMappedFile.CreateFromFile: same pages, zero copy, writes visible both ways.
 * - Names carry no leading slash (as Python's SharedMemory.name); the default name is
 *   "db_" + 32 hex digits (128 random bits): not guessable. Files are created O_EXCL, mode 0600.
 * - Close (Dispose: unmap, this process only) is separate from Unlink (remove the name: the owner,
 *   i.e. the creator, only). The mapping stays valid for everyone who has it after an unlink.
 * - Nothing leaks: segments this process created and did not unlink are unlinked at ProcessExit;
 *   after a kill -9 of a .NET owner its resource tracker (Tracking/ResourceTracker.cs, started at
 *   the first Create) unlinks them. Segments created by the Python side are covered by Python's
 *   resource tracker, which unlinks them when their creator dies.
 */

/// <summary>
/// A named shared memory segment (<c>/dev/shm/&lt;name&gt;</c>) mapped into this process, interoperable
/// with Python's <c>multiprocessing.shared_memory.SharedMemory</c> and <c>dotbridge.shared_memory</c>.
/// </summary>
/// <remarks>
/// <para><see cref="Dispose"/> closes this process's mapping; <see cref="Unlink"/> removes the name and is
/// for the creator only. Spans and memories handed out are invalid after <see cref="Dispose"/>.</para>
/// <para>Thread-safety: all members are thread-safe; concurrent access to the memory itself is the
/// caller's business (use a <see cref="SharedLock"/>).</para>
/// </remarks>
public sealed unsafe class SharedMemorySegment : IDisposable
{
    private const string Directory = "/dev/shm/";

    private static readonly ConcurrentDictionary<string, byte> s_owned = new();
    private static int s_exitHookInstalled;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _pointer;
    private int _disposed;
    private int _unlinked;

    private SharedMemorySegment(string name, long size, bool owner, MemoryMappedFile file, MemoryMappedViewAccessor view)
    {
        Name = name;
        Size = size;
        IsOwner = owner;
        _file = file;
        _view = view;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + view.PointerOffset;
    }

    /// <summary>The segment's name, without a leading slash (as Python's <c>SharedMemory.name</c>).</summary>
    public string Name { get; }

    /// <summary>The size in bytes of the mapping.</summary>
    public long Size { get; }

    /// <summary>True if this object created the segment (and so may <see cref="Unlink"/> it).</summary>
    public bool IsOwner { get; }

    /// <summary>The address of the first byte of the mapping in this process.</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return (nint)_pointer;
        }
    }

    /// <summary>A new unguessable segment name: <c>db_</c> and 32 hex digits (128 random bits).</summary>
    public static string NewName() => "db_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Creates a segment of <paramref name="size"/> bytes with a new random name, zero-filled.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="IOException">The segment could not be created.</exception>
    public static SharedMemorySegment Create(long size) => Create(null, size);

    /// <summary>Creates a segment named <paramref name="name"/> (a new random name if null) of <paramref name="size"/> bytes, zero-filled, mode 0600.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or holds a slash after the first character.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="IOException">A segment of that name exists already, or it could not be created.</exception>
    public static SharedMemorySegment Create(string? name, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        name = name is null ? NewName() : NormalizeName(name);
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        var stream = new FileStream(Directory + name, options);
        try
        {
            stream.SetLength(size);
            var segment = Map(name, stream, size, owner: true);
            s_owned.TryAdd(name, 0);
            InstallExitHook();
            Tracking.ResourceTracker.Register(Tracking.ResourceTracker.Segment, name);
            return segment;
        }
        catch
        {
            stream.Dispose();
            File.Delete(Directory + name);
            throw;
        }
    }

    /// <summary>Opens (maps) the existing segment <paramref name="name"/>, made by any process or language.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or holds a slash after the first character.</exception>
    /// <exception cref="FileNotFoundException">No segment has that name.</exception>
    /// <exception cref="IOException">The segment is empty or could not be mapped.</exception>
    public static SharedMemorySegment Open(string name)
    {
        name = NormalizeName(name);
        var stream = new FileStream(Directory + name, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            long size = stream.Length;
            if (size == 0)
            {
                throw new IOException($"shared memory segment '{name}' is empty");
            }
            return Map(name, stream, size, owner: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Removes the name <paramref name="name"/> from /dev/shm (whoever owns it); false if it did not exist.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a valid segment name.</exception>
    public static bool UnlinkByName(string name)
    {
        name = NormalizeName(name);
        s_owned.TryRemove(name, out _);
        Tracking.ResourceTracker.Unregister(Tracking.ResourceTracker.Segment, name);
        var path = Directory + name;
        if (!File.Exists(path))
        {
            return false;
        }
        File.Delete(path);
        return true;
    }

    /// <summary>The whole mapping as bytes.</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    /// <exception cref="InvalidOperationException">The segment is 2 GiB or more (use <see cref="AsSpan{T}(long, int)"/>).</exception>
    public Span<byte> AsSpan() => AsSpan<byte>();

    /// <summary>The whole mapping as elements of <typeparamref name="T"/> (trailing bytes that do not fill an element are left out).</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    /// <exception cref="InvalidOperationException">More than <see cref="int.MaxValue"/> elements.</exception>
    public Span<T> AsSpan<T>()
        where T : unmanaged
    {
        long count = Size / sizeof(T);
        if (count > int.MaxValue)
        {
            throw new InvalidOperationException($"segment '{Name}' holds more than int.MaxValue elements; take a slice");
        }
        return AsSpan<T>(0, (int)count);
    }

    /// <summary><paramref name="length"/> elements of <typeparamref name="T"/> starting <paramref name="byteOffset"/> bytes into the mapping.</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the segment.</exception>
    public Span<T> AsSpan<T>(long byteOffset, int length)
        where T : unmanaged
    {
        CheckRange<T>(byteOffset, length);
        return new Span<T>(_pointer + byteOffset, length);
    }

    /// <summary>The whole mapping as a <see cref="Memory{T}"/> (valid until <see cref="Dispose"/>).</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    /// <exception cref="InvalidOperationException">More than <see cref="int.MaxValue"/> elements.</exception>
    public Memory<T> AsMemory<T>()
        where T : unmanaged => new SegmentMemoryManager<T>(this, 0, AsSpan<T>().Length).Memory;

    /// <summary><paramref name="length"/> elements starting <paramref name="byteOffset"/> bytes in, as a <see cref="Memory{T}"/>.</summary>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the segment.</exception>
    public Memory<T> AsMemory<T>(long byteOffset, int length)
        where T : unmanaged
    {
        CheckRange<T>(byteOffset, length);
        return new SegmentMemoryManager<T>(this, byteOffset, length).Memory;
    }

    /// <summary>
    /// An ext 3 reference to <paramref name="length"/> elements of <typeparamref name="T"/> at <paramref name="byteOffset"/>:
    /// pass it as an argument to a Python callable through the pool and the Python worker gets a numpy array over
    /// these very bytes (no copy; its writes show up here).
    /// </summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not a numpy-compatible primitive.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the segment.</exception>
    /// <exception cref="ObjectDisposedException">The segment was disposed.</exception>
    public ShmArrayRef ArrayRef<T>(long byteOffset, int length)
        where T : unmanaged
    {
        CheckRange<T>(byteOffset, length);
        byte code = Bridge.Values.DType.CodeOf(typeof(T));
        if (code == 0)
        {
            throw new ArgumentException($"{typeof(T).Name} has no numpy dtype", nameof(T));
        }
        return new ShmArrayRef(Name, code, byteOffset, [length]);
    }

    /// <summary>Removes the segment's name (owner only); mappings stay valid. Idempotent.</summary>
    /// <exception cref="InvalidOperationException">This object did not create the segment.</exception>
    public void Unlink()
    {
        if (!IsOwner)
        {
            throw new InvalidOperationException(
                $"only the creator of shared memory segment '{Name}' may unlink it (SharedMemorySegment.UnlinkByName(name) removes any name)");
        }
        if (Interlocked.Exchange(ref _unlinked, 1) == 0)
        {
            s_owned.TryRemove(Name, out _);
            File.Delete(Directory + Name);
            Tracking.ResourceTracker.Unregister(Tracking.ResourceTracker.Segment, Name);
        }
    }

    /// <summary>Closes this process's mapping (the segment itself lives on until its owner unlinks it). Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedMemorySegment(name='{Name}', size={Size}{(IsOwner ? ", owner" : "")})";

    internal byte* PointerAt(long byteOffset)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _pointer + byteOffset;
    }

    internal void CheckRange<T>(long byteOffset, int length)
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(byteOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (byteOffset + (long)length * sizeof(T) > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"{length} elements of {sizeof(T)} bytes at offset {byteOffset} exceed segment '{Name}' of {Size} bytes");
        }
    }

    internal static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith('/'))
        {
            name = name[1..];
        }
        if (name.Length == 0 || name.Contains('/') || name is "." or ".." || name.Contains('\0'))
        {
            throw new ArgumentException($"'{name}' is not a valid shared memory segment name", nameof(name));
        }
        return name;
    }

    private static SharedMemorySegment Map(string name, FileStream stream, long size, bool owner)
    {
        // leaveOpen: false — the map owns the file handle from here on.
        var file = MemoryMappedFile.CreateFromFile(stream, null, size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        try
        {
            var view = file.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
            return new SharedMemorySegment(name, size, owner, file, view);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref s_exitHookInstalled, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
            {
                foreach (var name in s_owned.Keys)
                {
                    try
                    {
                        File.Delete(Directory + name);
                        Tracking.ResourceTracker.Unregister(Tracking.ResourceTracker.Segment, name);
                    }
                    catch (IOException)
                    {
                        // best effort at exit: the name may already be gone
                    }
                }
                s_owned.Clear();
            };
        }
    }
}
