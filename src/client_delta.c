/* client_delta.c - the client's side of delta transfers (ft sync).
 *
 * SKELETON: until the delta branch lands, every call answers as a client
 * of a server without FT_FEATURE_DELTA would. */
#include "client_int.h"
#include "client_local.h"

bool ft_client_can_delta(const struct ft_client *c)
{
    (void)c;
    return false;
}

enum ft_err ft_client_put_delta(struct ft_client *c, int in_fd, int64_t size,
                                const char *remote,
                                const struct ft_transfer_options *opt,
                                struct ft_transfer *out)
{
    (void)in_fd, (void)size, (void)remote, (void)opt, (void)out;
    ft_client_set_error(c, "the server does not take delta transfers");
    return FT_ERR_VERSION;
}

enum ft_err ft_client_get_delta_at(struct ft_client *c, const char *remote,
                                   const struct ft_local_name *to,
                                   const struct ft_transfer_options *opt,
                                   struct ft_transfer *out)
{
    (void)remote, (void)to, (void)opt, (void)out;
    ft_client_set_error(c, "the server does not take delta transfers");
    return FT_ERR_VERSION;
}

enum ft_err ft_client_get_delta_file(struct ft_client *c, const char *remote,
                                     const char *local_path,
                                     const struct ft_transfer_options *opt,
                                     struct ft_transfer *out)
{
    (void)local_path;
    return ft_client_get_delta_at(c, remote, NULL, opt, out);
}
