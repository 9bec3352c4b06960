// Owning handles for the libnftnl objects wac builds.
#pragma once
#include <libnftnl/batch.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include <memory>

namespace wac::nft {

struct NftnlSetFree {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
struct NftnlSetElemFree {
  void operator()(nftnl_set_elem* e) const { nftnl_set_elem_free(e); }
};
struct NftnlBatchFree {
  void operator()(nftnl_batch* b) const { nftnl_batch_free(b); }
};
struct NftnlUdataBufFree {
  void operator()(nftnl_udata_buf* b) const { nftnl_udata_buf_free(b); }
};

using NftnlSet = std::unique_ptr<nftnl_set, NftnlSetFree>;
// Owned until handed to a set with release() + nftnl_set_elem_add().
using NftnlSetElem = std::unique_ptr<nftnl_set_elem, NftnlSetElemFree>;
using NftnlBatch = std::unique_ptr<nftnl_batch, NftnlBatchFree>;
using NftnlUdataBuf = std::unique_ptr<nftnl_udata_buf, NftnlUdataBufFree>;

}  // namespace wac::nft
