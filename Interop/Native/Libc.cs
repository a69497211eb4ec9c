using System.Runtime.InteropServices;

namespace Bridge.Interop.Native;

/// <summary>The few libc functions the loader needs: dlopen with RTLD_GLOBAL and setenv.</summary>
internal static unsafe class Libc
{
    internal const int RtldNow = 0x002;
    internal const int RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")] private static extern nint dlopen(byte* file, int mode);
    [DllImport("libc", EntryPoint = "dlerror")] private static extern byte* dlerror();
    [DllImport("libc", EntryPoint = "setenv")] private static extern int setenv(byte* name, byte* value, int overwrite);

    /// <summary>dlopen(path, RTLD_NOW | RTLD_GLOBAL); returns 0 and the dlerror text on failure.</summary>
    internal static nint OpenGlobal(string path, out string? error)
    {
        fixed (byte* p = Utf8Z(path))
        {
            nint h = dlopen(p, RtldNow | RtldGlobal);
            error = h == 0 ? Marshal.PtrToStringUTF8((nint)dlerror()) : null;
            return h;
        }
    }

    /// <summary>dlopen(NULL, RTLD_NOW | RTLD_GLOBAL): the global symbol scope of this process (0 on failure).</summary>
    internal static nint OpenSelf() => dlopen(null, RtldNow | RtldGlobal);

    /// <summary>setenv in the native environment (Environment.SetEnvironmentVariable only changes .NET's copy).</summary>
    internal static void SetNativeEnvironment(string name, string value)
    {
        fixed (byte* n = Utf8Z(name))
        fixed (byte* v = Utf8Z(value))
        {
            _ = setenv(n, v, 1);
        }
    }

    internal static byte[] Utf8Z(string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
