/* A minimal UEFI application: returns EFI_SUCCESS.  Test vector for skr. */
typedef unsigned long long UINTN;
static const char message[] = "skr test vector";
UINTN efi_main(void *image, void *system_table)
{
	(void)image; (void)system_table;
	return message[0] == 's' ? 0 : 1;
}
